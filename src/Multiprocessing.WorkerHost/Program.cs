// The worker process. It is started by the Multiprocessing library with the calling application's
// runtime config and dependency manifest, so the application's assemblies resolve here; this file
// only hands over to the library, which it finds through that same manifest.
using System.Reflection;

Type entry = Assembly.Load("Multiprocessing").GetType("Multiprocessing.WorkerRuntime.WorkerHostEntry", throwOnError: true)!;
return (int)entry.GetMethod("Run", BindingFlags.NonPublic | BindingFlags.Public | BindingFlags.Static)!.Invoke(null, [args])!;
