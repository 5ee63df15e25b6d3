using Quota.Abstractions;
using Quota.Grains.Subjects;

namespace Quota.Grains.Administration;

/// <summary>The persisted, bounded log of configuration changes; see <see cref="IChangeLogGrain"/>.</summary>
[GrainType("changelog")]
public sealed class ChangeLogGrain(
    [PersistentState("changes", QuotaStorage.Name)] IPersistentState<ChangeLogState> state,
    QuotaTime clock) : Grain, IChangeLogGrain
{
    /// <summary>How many changes are kept; older ones are dropped.</summary>
    public const int Capacity = 10_000;

    /// <inheritdoc />
    public async Task<ChangeRecord[]> RecordAsync(ChangeRecord[] changes)
    {
        ArgumentNullException.ThrowIfNull(changes);
        var now = clock.Provider.GetUtcNow();
        var recorded = changes.Select(c => c with { Sequence = ++state.State.LastSequence, At = now }).ToArray();
        state.State.Changes.AddRange(recorded);
        if (state.State.Changes.Count > Capacity)
        {
            state.State.Changes.RemoveRange(0, state.State.Changes.Count - Capacity);
        }

        await state.WriteStateAsync();
        return recorded;
    }

    /// <inheritdoc />
    public Task<ChangeRecord[]> ListAsync(int limit, string? subject)
    {
        IEnumerable<ChangeRecord> changes = state.State.Changes;
        if (subject is not null)
        {
            changes = changes.Where(c => c.Subject == subject);
        }

        return Task.FromResult(changes.Reverse().Take(Math.Clamp(limit, 0, Capacity)).ToArray());
    }
}

/// <summary>The change log's persisted state.</summary>
[GenerateSerializer, Alias("quota.ChangeLogState")]
public sealed class ChangeLogState
{
    /// <summary>The last sequence number handed out.</summary>
    [Id(0)] public long LastSequence { get; set; }

    /// <summary>The kept changes, oldest first.</summary>
    [Id(1)] public List<ChangeRecord> Changes { get; set; } = [];
}
