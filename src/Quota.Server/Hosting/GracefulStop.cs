using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Quota.Server.Http;

namespace Quota.Server.Hosting;

/// <summary>
/// The first step of a stop: the silo drains before Kestrel and Orleans stop. <c>/readyz</c> turns <c>503</c> (a balancer
/// stops sending), requests that arrive are answered <c>503</c> with <c>Connection: close</c> and <c>Retry-After</c>
/// (counted as shed, reason <c>stopping</c>), waits in flight end and are answered the same way, and every other request
/// in flight finishes. Then the host stops the rest in reverse order of registration: Kestrel (nothing left to cut), Orleans
/// (subjects deactivate and write their checkpoints, the silo leaves the cluster), the usage-history writer (its last batch).
/// </summary>
/// <remarks>
/// It runs in <see cref="IHostedLifecycleService.StoppingAsync"/>, which the host calls on every lifecycle service before
/// any <see cref="IHostedService.StopAsync"/>. The whole stop shares <see cref="HostOptions.ShutdownTimeout"/>, so the drain
/// takes at most half of it and leaves the rest to Orleans.
/// </remarks>
internal sealed partial class GracefulStop(RequestGate gate, IOptions<HostOptions> host, ILogger<GracefulStop> logger) : IHostedLifecycleService
{
    public async Task StoppingAsync(CancellationToken cancellationToken)
    {
        // Elapsed time for the log only: a measurement, not quota time.
        var started = TimeProvider.System.GetTimestamp();
        LogDraining(logger, gate.InFlight);
        var drained = gate.BeginDrain();
        try
        {
            var timeout = host.Value.ShutdownTimeout;
            await drained.WaitAsync(timeout == Timeout.InfiniteTimeSpan ? timeout : timeout / 2, cancellationToken);
            LogDrained(logger, (long)TimeProvider.System.GetElapsedTime(started).TotalMilliseconds);
        }
        catch (Exception e) when (e is TimeoutException or OperationCanceledException)
        {
            LogDrainCutShort(logger, gate.InFlight, (long)TimeProvider.System.GetElapsedTime(started).TotalMilliseconds);
        }
    }

    public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    [LoggerMessage(Level = LogLevel.Information, Message = "Stopping: draining {InFlight} HTTP requests in flight; new requests are answered 503 and /readyz is 503")]
    private static partial void LogDraining(ILogger logger, int inFlight);

    [LoggerMessage(Level = LogLevel.Information, Message = "Drained in {ElapsedMs} ms: every HTTP request in flight was answered")]
    private static partial void LogDrained(ILogger logger, long elapsedMs);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The drain ended after {ElapsedMs} ms with {InFlight} HTTP requests still in flight (half of HostOptions.ShutdownTimeout); Kestrel stops them now")]
    private static partial void LogDrainCutShort(ILogger logger, int inFlight, long elapsedMs);
}
