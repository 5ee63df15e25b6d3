using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Quota.Grains.Storage;

/// <summary>
/// Writes the <see cref="UsageRecorder"/>'s rows to the <see cref="IUsageHistoryStore"/> every
/// <see cref="DurabilityOptions.UsageFlushInterval"/>, and once more at shutdown. A failed batch is kept for the
/// next attempt and the silo reports itself degraded until one succeeds.
/// </summary>
public sealed partial class UsageHistoryWriter(
    UsageRecorder recorder,
    IUsageHistoryStore store,
    StorageHealth health,
    QuotaTime time,
    IOptions<DurabilityOptions> options,
    ILogger<UsageHistoryWriter> logger) : BackgroundService
{
    /// <summary>How long the last write at shutdown may take.</summary>
    private static readonly TimeSpan FinalWriteTimeout = TimeSpan.FromSeconds(10);

    /// <summary>Writes what is waiting now; false when the store refused it (the rows are kept for the next attempt).</summary>
    /// <remarks>
    /// The store adds rows up, so a batch the database committed but whose answer was lost is added again by the
    /// retry: such a batch (rare: it takes a connection lost at the moment of commit) is counted twice.
    /// </remarks>
    public async Task<bool> FlushAsync(CancellationToken cancellationToken)
    {
        var now = time.Provider.GetUtcNow();
        var batch = recorder.TakeBatch(now);
        if (batch.Count == 0)
        {
            return true;
        }

        try
        {
            await store.WriteAsync(batch, cancellationToken);
            health.HistoryWritten();
            return true;
        }
        catch (Exception e)
        {
            var kept = recorder.PutBack(batch);
            health.HistoryFailed(e, kept, now);
            LogWriteFailed(logger, batch.Count, kept, e.GetType().Name, e.Message);
            return false;
        }
    }

    /// <inheritdoc />
    /// <remarks>
    /// Registered before the silo, so it stops after it: decisions made while the silo drains are in the last batch,
    /// which gets its own time limit rather than the host's (possibly spent) shutdown token.
    /// </remarks>
    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        using var last = new CancellationTokenSource(FinalWriteTimeout);
        await FlushAsync(last.Token);
    }

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Value.UsageFlushInterval, time.Provider);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                await FlushAsync(stoppingToken);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Shutting down: StopAsync writes what is left.
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Usage history: a batch of {Rows} rows could not be written ({ErrorType}: {Error}); {Kept} rows are kept for the next attempt")]
    private static partial void LogWriteFailed(ILogger logger, int rows, int kept, string errorType, string error);
}
