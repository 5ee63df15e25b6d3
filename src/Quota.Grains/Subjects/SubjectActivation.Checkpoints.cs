using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Concurrency;
using Quota.Abstractions;
using Quota.Algorithms.Limiting;
using Quota.Grains.Configuration;
using Quota.Grains.Storage;

namespace Quota.Grains.Subjects;

/// <content>The subject's side of its checkpoints: the ceiling a request may wait at, and the store its writer writes through.</content>
internal sealed partial class SubjectActivation
{
    /// <summary>See <see cref="ISubjectClusterGrain.CheckpointAsync"/>.</summary>
    public Task CheckpointAsync() => _writerOrNull?.CheckpointAsync() ?? Task.CompletedTask;

    /// <summary>Whether a request for <paramref name="cost"/> must wait for a checkpoint (see <see cref="CheckpointWriter.MustWaitForCeiling"/>).</summary>
    private bool MustWaitForCeiling(long cost, DateTimeOffset now) =>
        _known && _services.Durability.Checkpoints && _limits.HasDurable && Writer.MustWaitForCeiling(cost, now);

    /// <summary>A durable counter may have moved by <paramref name="permits"/>: the writer decides whether to write now.</summary>
    private void CountersChanged(DateTimeOffset now, long permits)
    {
        if (_services.Durability.Checkpoints && _limits.HasDurable)
        {
            Writer.CountersChanged(now, permits);
        }
    }

    /// <inheritdoc />
    async Task<UsageCheckpointState> ICheckpointStore.WriteAsync(UsageCheckpointState next)
    {
        var stored = _checkpointState ??= new();
        stored.State = next;
        try
        {
            await _services.Storage.WriteStateAsync(CheckpointStateName, _host.GrainId, stored);
        }
        catch (Orleans.Storage.InconsistentStateException)
        {
            // An earlier write went through but its answer was lost (or another activation wrote): take the stored
            // version and write what covers both, counter by counter.
            await _services.Storage.ReadStateAsync(CheckpointStateName, _host.GrainId, stored);
            next = DurableCounters.Merge(stored.State ?? new(), next);
            stored.State = next;
            await _services.Storage.WriteStateAsync(CheckpointStateName, _host.GrainId, stored);
        }

        return next;
    }

    /// <inheritdoc />
    void ICheckpointStore.ArmRetry(TimeSpan due)
    {
        _self ??= _host.Reference();
        _checkpointTimer ??= _services.Time.CreateTimer(static state => ((SubjectActivation)state!)._self?.CheckpointAsync(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        _checkpointTimer.Change(due, Timeout.InfiniteTimeSpan);
    }

    /// <inheritdoc />
    void ICheckpointStore.KeepActive(TimeSpan period) => _host.DelayDeactivation(period);

    /// <inheritdoc />
    void ICheckpointStore.CeilingRaised() => ProcessWaiters(_services.Time.GetUtcNow());

    /// <inheritdoc />
    void ICheckpointStore.Reported(Exception? failure, DateTimeOffset now)
    {
        if (failure is null)
        {
            _services.Health.CheckpointWritten(this);
            _services.Instruments.CheckpointWritten(ok: true);
            return;
        }

        _services.Health.CheckpointFailed(this, failure, now);
        _services.Instruments.CheckpointWritten(ok: false);
        LogCheckpointFailed(_logger, _label, failure.GetType().Name, failure.Message);
    }

    /// <summary>The checkpoint bookkeeping, made when a subject first has durable counters to write (PostgreSQL mode).</summary>
    private CheckpointWriter Writer => _writerOrNull ??= new(this, _limits, _services.Time, _services.Durability.CheckpointInterval, Random.Shared);
}
