using System.Diagnostics;
using System.Text.Json;
using Multiprocessing.Worker;

namespace Multiprocessing.Tests.Worker;

public sealed class WorkerRuntimeConfigTests
{
    private const string Sdk = """
        {
          "runtimeOptions": {
            "tfm": "net10.0",
            "framework": {
              "name": "Microsoft.NETCore.App",
              "version": "10.0.0"
            },
            "configProperties": {
              "System.GC.Server": false,
              "System.Reflection.Metadata.MetadataUpdater.IsSupported": false
            }
          }
        }
        """;

    [Theory]
    [InlineData(Sdk)]
    [InlineData("""{ "runtimeOptions": { "tfm": "net10.0", "configProperties": {} } }""")]
    [InlineData("""{ "runtimeOptions": { "tfm": "net10.0", "configProperties": {  } } }""")]
    [InlineData("""{ "runtimeOptions": { "tfm": "net10.0" } }""")]
    [InlineData("""{"runtimeOptions":{}}""")]
    public void Derive_AddsTheSwitch_AndKeepsEverythingElse(string source)
    {
        string derived = WorkerRuntimeConfig.Derive(source)!;

        using JsonDocument before = JsonDocument.Parse(source);
        using JsonDocument after = JsonDocument.Parse(derived);
        JsonElement options = after.RootElement.GetProperty("runtimeOptions");
        Assert.False(options.GetProperty("configProperties").GetProperty(WorkerRuntimeConfig.EventSourceSwitch).GetBoolean());
        foreach (JsonProperty original in before.RootElement.GetProperty("runtimeOptions").EnumerateObject())
        {
            if (original.Name != "configProperties")
            {
                Assert.Equal(original.Value.GetRawText(), options.GetProperty(original.Name).GetRawText());
                continue;
            }
            foreach (JsonProperty property in original.Value.EnumerateObject())
            {
                Assert.Equal(property.Value.GetRawText(), options.GetProperty("configProperties").GetProperty(property.Name).GetRawText());
            }
        }
    }

    [Theory]
    [InlineData("""{ "runtimeOptions": { "configProperties": { "System.Diagnostics.Tracing.EventSource.IsSupported": true } } }""")]
    [InlineData("""{ "something": "else" }""")]
    [InlineData("")]
    public void Derive_LeavesTheApplicationsChoiceOrAnUnknownShapeAlone(string source)
    {
        Assert.Null(WorkerRuntimeConfig.Derive(source));
    }

    [Fact]
    public async Task Workers_StartWithoutEventSources_UnlessDiagnosticsAreOn()
    {
        await using (var quiet = new ProcessPool(new ProcessPoolOptions { Workers = 1 }))
        {
            Assert.Equal("set to False", await quiet.SubmitAsync(EventSourceSwitch).WaitAsync(Bounds.Unexpected));
            // Tracing inside the worker does not need event sources.
            Assert.Equal("recorded", await quiet.SubmitAsync(ListenToOwnActivity).WaitAsync(Bounds.Unexpected));
        }
        await using var diagnosable = new ProcessPool(new ProcessPoolOptions { Workers = 1, EnableWorkerDiagnostics = true });
        Assert.Equal("not set", await diagnosable.SubmitAsync(EventSourceSwitch).WaitAsync(Bounds.Unexpected));
    }

    private static string EventSourceSwitch() =>
        AppContext.TryGetSwitch(WorkerRuntimeConfig.EventSourceSwitch, out bool on) ? $"set to {on}" : "not set";

    private static string ListenToOwnActivity()
    {
        string? seen = null;
        using var listener = new ActivityListener
        {
            ShouldListenTo = s => s.Name == "WorkerRuntimeConfigTests",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = a => seen = a.IsAllDataRequested ? "recorded" : "not recorded",
        };
        ActivitySource.AddActivityListener(listener);
        using var source = new ActivitySource("WorkerRuntimeConfigTests");
        source.StartActivity("probe")?.Dispose();
        return seen ?? "no activity";
    }
}
