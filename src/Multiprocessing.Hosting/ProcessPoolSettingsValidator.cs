using Microsoft.Extensions.Options;

namespace Multiprocessing.Hosting;

/// <summary>Checks settings by building the options from them, so the rules live in one place: <see cref="ProcessPoolOptions"/>.</summary>
internal sealed class ProcessPoolSettingsValidator : IValidateOptions<ProcessPoolSettings>
{
    public ValidateOptionsResult Validate(string? name, ProcessPoolSettings options)
    {
        try
        {
            _ = options.ToOptions();
            return ValidateOptionsResult.Success;
        }
        catch (ArgumentException e)
        {
            return ValidateOptionsResult.Fail($"ProcessPool setting {(e as ArgumentOutOfRangeException)?.ParamName ?? e.ParamName}: {e.Message}");
        }
    }
}
