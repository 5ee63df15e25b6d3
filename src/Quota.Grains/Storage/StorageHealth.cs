namespace Quota.Grains.Storage;

/// <summary>
/// Whether this silo's durable writes (counter checkpoints, usage history) are getting through: <c>/readyz</c>
/// reports the silo as degraded while any are failing. Decisions do not depend on it: they continue from memory.
/// One per silo; thread-safe.
/// </summary>
public sealed class StorageHealth
{
    private readonly Lock _gate = new();
    private readonly HashSet<object> _checkpointsAtRisk = new(ReferenceEqualityComparer.Instance);
    private DateTimeOffset? _failingSince;
    private string? _errorType;
    private bool _historyFailing;
    private int _historyRowsWaiting;

    /// <summary>The state as of now: null when healthy, otherwise since when and why writes fail.</summary>
    public StorageProblem? Problem
    {
        get
        {
            lock (_gate)
            {
                return _failingSince is { } since && (_checkpointsAtRisk.Count > 0 || _historyFailing)
                    ? new StorageProblem(since, _errorType ?? "unknown", _checkpointsAtRisk.Count, _historyRowsWaiting)
                    : null;
            }
        }
    }

    /// <summary>A subject's checkpoint write failed; its counter is at risk until one succeeds.</summary>
    public void CheckpointFailed(object subject, Exception error, DateTimeOffset now)
    {
        lock (_gate)
        {
            _checkpointsAtRisk.Add(subject);
            Failing(error, now);
        }
    }

    /// <summary>A subject's checkpoint write succeeded (or it no longer has one to write).</summary>
    public void CheckpointWritten(object subject)
    {
        lock (_gate)
        {
            if (_checkpointsAtRisk.Remove(subject))
            {
                Recovered();
            }
        }
    }

    /// <summary>A usage-history batch failed; <paramref name="rowsWaiting"/> rows are kept for the next attempt.</summary>
    public void HistoryFailed(Exception error, int rowsWaiting, DateTimeOffset now)
    {
        lock (_gate)
        {
            _historyFailing = true;
            _historyRowsWaiting = rowsWaiting;
            Failing(error, now);
        }
    }

    /// <summary>A usage-history batch was written; nothing is waiting from earlier failures.</summary>
    public void HistoryWritten()
    {
        lock (_gate)
        {
            if (_historyFailing)
            {
                _historyFailing = false;
                _historyRowsWaiting = 0;
                Recovered();
            }
        }
    }

    private void Failing(Exception error, DateTimeOffset now)
    {
        _failingSince ??= now;

        // The type only: this is answered to unauthenticated callers, and a database error's message names its host.
        // The writers log the message.
        _errorType = error.GetType().Name;
    }

    private void Recovered()
    {
        if (_checkpointsAtRisk.Count == 0 && !_historyFailing)
        {
            _failingSince = null;
            _errorType = null;
        }
    }
}

/// <summary>Durable writes failing since <paramref name="Since"/> (a silo reports it to the console's cluster overview).</summary>
/// <param name="Since">When the first of the current failures happened.</param>
/// <param name="ErrorType">The latest error's type (its message is in the log).</param>
/// <param name="CheckpointsWaiting">Subjects whose counters have changes not yet written.</param>
/// <param name="HistoryRowsWaiting">Usage-history rows kept for the next attempt.</param>
[GenerateSerializer, Immutable, Alias("quota.StorageProblem")]
public sealed record StorageProblem(
    [property: Id(0)] DateTimeOffset Since,
    [property: Id(1)] string ErrorType,
    [property: Id(2)] int CheckpointsWaiting,
    [property: Id(3)] int HistoryRowsWaiting);
