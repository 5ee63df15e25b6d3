using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Quota.Client;

namespace Quota.Benchmarks;

/// <summary>The Quota client the load commands drive: <c>AddQuotaClient</c> with its defaults, one gateway.</summary>
internal static class BenchClient
{
    /// <summary>
    /// Starts a host with the client connected to <paramref name="gateway"/>. Ctrl+C and SIGTERM end the process, as
    /// for any command-line tool (the scripts' exit traps stop what they started): the default console lifetime would
    /// only stop the host and leave the measurement running.
    /// </summary>
    public static async Task<IHost> StartAsync(string gateway)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.Services.AddSingleton<IHostLifetime, SignalsEndTheProcess>();
        builder.Services.AddQuotaClient(client =>
        {
            client.Gateways.Clear();
            client.Gateways.Add(gateway);
        });
        var host = builder.Build();
        await host.StartAsync();
        return host;
    }

    /// <summary>A lifetime that handles no signal, so the runtime's default (ending the process) applies.</summary>
    private sealed class SignalsEndTheProcess : IHostLifetime
    {
        public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
