using Multiprocessing.Cli;

return await MpCommandLine.RunAsync(args).ConfigureAwait(false);
