using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Multiprocessing;
using Multiprocessing.Hosting;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers a <see cref="ProcessPool"/> that starts and stops with the host.</summary>
/// <example>
/// <code>
/// var builder = WebApplication.CreateBuilder(args);
/// builder.Services.AddProcessPool(builder.Configuration.GetSection("ProcessPool"));
/// var app = builder.Build();
/// app.MapGet("/primes/{n:int}", (int n, ProcessPool pool) => pool.SubmitAsync(Primes.Count, n));
/// </code>
/// </example>
public static class ProcessPoolServiceCollectionExtensions
{
    /// <summary>
    /// Registers a <see cref="ProcessPool"/> singleton (also served as <see cref="IProcessPool"/>, so code
    /// that takes the interface moves to a cluster pool by registration alone), created with the host's
    /// <see cref="ILoggerFactory"/>, and a hosted service that starts its workers when the host
    /// starts (the start waits until they are ready) and disposes it when the host stops: running
    /// tasks get up to <see cref="ProcessPoolSettings.ShutdownTimeout"/> to finish, queued ones
    /// fail, then every worker process is stopped.
    /// </summary>
    /// <param name="services">The service collection.</param>
    /// <param name="configure">Sets the pool's settings in code; applied after any configuration binding.</param>
    /// <returns><paramref name="services"/>, for chaining.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="services"/> is null.</exception>
    /// <remarks>Calling it again adds more configuration to the same single pool.</remarks>
    public static IServiceCollection AddProcessPool(this IServiceCollection services, Action<ProcessPoolSettings>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        OptionsBuilder<ProcessPoolSettings> options = services.AddOptions<ProcessPoolSettings>();
        if (configure is not null)
        {
            options.Configure(configure);
        }
        options.ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<ProcessPoolSettings>, ProcessPoolSettingsValidator>());
        services.TryAddSingleton(static provider =>
            new ProcessPool(provider.GetRequiredService<IOptions<ProcessPoolSettings>>().Value.ToOptions(provider.GetService<ILoggerFactory>())));
        services.TryAddSingleton<IProcessPool>(static provider => provider.GetRequiredService<ProcessPool>());
        services.AddHostedService<ProcessPoolHostedService>();
        return services;
    }

    /// <summary>
    /// Registers a <see cref="ProcessPool"/> as <see cref="AddProcessPool(IServiceCollection, Action{ProcessPoolSettings}?)"/>
    /// does, with its settings bound from <paramref name="configuration"/>: pass the section itself,
    /// for instance <c>builder.Configuration.GetSection("ProcessPool")</c> (<see cref="ProcessPoolSettings.SectionName"/>).
    /// </summary>
    /// <param name="services">The service collection.</param>
    /// <param name="configuration">The section to bind: <c>Workers</c>, <c>MaxTasksPerWorker</c>, <c>TaskTimeout</c>, … (see <see cref="ProcessPoolSettings"/>).</param>
    /// <param name="configure">Sets more settings in code, after the binding.</param>
    /// <returns><paramref name="services"/>, for chaining.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="services"/> or <paramref name="configuration"/> is null.</exception>
    public static IServiceCollection AddProcessPool(this IServiceCollection services, IConfiguration configuration, Action<ProcessPoolSettings>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configuration);
        services.AddOptions<ProcessPoolSettings>().Bind(configuration);
        return services.AddProcessPool(configure);
    }
}
