using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.Logging;

namespace Multiprocessing.Tests.Observability;

/// <summary>One log entry as a provider saw it: its structured fields as well as its text.</summary>
internal sealed record LogEntry(string Category, LogLevel Level, EventId EventId, string Message, IReadOnlyDictionary<string, object?> Fields, Exception? Exception)
{
    public object? this[string field] => Fields.TryGetValue(field, out object? value) ? value : null;
}

/// <summary>A logger provider that keeps every entry, for tests to wait on.</summary>
internal sealed class LogCapture : ILoggerProvider
{
    private readonly ConcurrentQueue<LogEntry> _entries = new();

    public IReadOnlyList<LogEntry> Entries => [.. _entries];

    public ILoggerFactory CreateFactory() => LoggerFactory.Create(builder => builder.SetMinimumLevel(LogLevel.Trace).AddProvider(this));

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public IEnumerable<LogEntry> WithEvent(int eventId) => Entries.Where(e => e.EventId.Id == eventId && e.Category == ProcessPoolLogEvents.PoolCategory);

    /// <summary>Waits (bounded) for an entry that matches and returns it.</summary>
    public async Task<LogEntry> WaitForAsync(Func<LogEntry, bool> match, string what)
    {
        await Wait.UntilAsync(() => Entries.Any(match), what + Environment.NewLine + "Logged so far:" + Environment.NewLine + string.Join(Environment.NewLine, Entries.Select(e => $"  {e.Category} {e.EventId} {e.Level}: {e.Message}")));
        return Entries.First(match);
    }

    public void Dispose()
    {
    }

    private sealed class Logger(LogCapture owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            var fields = new Dictionary<string, object?>();
            if (state is IEnumerable<KeyValuePair<string, object?>> pairs)
            {
                foreach ((string key, object? value) in pairs)
                {
                    fields[key] = value;
                }
            }
            owner._entries.Enqueue(new LogEntry(category, logLevel, eventId, formatter(state, exception), fields, exception));
        }
    }
}

/// <summary>One measurement of the "Multiprocessing" meter.</summary>
internal sealed record MeasurementEntry(string Instrument, double Value, IReadOnlyDictionary<string, object?> Tags);

/// <summary>Listens to the library's meter and keeps the measurements of one named pool (tests run in parallel, so other pools report too).</summary>
internal sealed class MetricsCapture : IDisposable
{
    private readonly MeterListener _listener = new();
    private readonly ConcurrentQueue<MeasurementEntry> _entries = new();
    private readonly string _pool;

    public MetricsCapture(string pool)
    {
        _pool = pool;
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == ProcessPoolMetrics.MeterName)
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) => Record(instrument, value, tags));
        _listener.SetMeasurementEventCallback<double>((instrument, value, tags, _) => Record(instrument, value, tags));
        _listener.Start();
    }

    public IReadOnlyList<MeasurementEntry> Entries => [.. _entries];

    public IEnumerable<MeasurementEntry> Of(string instrument) => Entries.Where(e => e.Instrument == instrument);

    public double Sum(string instrument) => Of(instrument).Sum(e => e.Value);

    /// <summary>Runs the observable instruments' callbacks now.</summary>
    public void Observe() => _listener.RecordObservableInstruments();

    private void Record(Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        var map = new Dictionary<string, object?>();
        foreach ((string key, object? tagValue) in tags)
        {
            map[key] = tagValue;
        }
        if (map.TryGetValue(ProcessPoolMetrics.PoolTag, out object? pool) && Equals(pool, _pool))
        {
            _entries.Enqueue(new MeasurementEntry(instrument.Name, value, map));
        }
    }

    public void Dispose() => _listener.Dispose();
}

/// <summary>Worker methods for the observability tests.</summary>
internal static class ObservabilityTasks
{
    public static int WriteLines(string tag)
    {
        Console.Out.WriteLine("out " + tag);
        Console.Error.WriteLine("err " + tag);
        return Environment.ProcessId;
    }

    /// <summary>Writes a line to stderr, then ends the process at once: the line must still reach the parent.</summary>
    public static int WriteThenFailFast(string tag)
    {
        Console.Error.WriteLine("last words " + tag);
        Environment.FailFast("observability test: fail fast " + tag);
        return 0;
    }
}
