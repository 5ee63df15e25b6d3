using Quota.Abstractions;
using Quota.Grains.Subjects;

namespace Quota.Grains.Administration;

/// <summary>The persisted index of configured subjects, users' keys and defined queues; see <see cref="IRegistryGrain"/>.</summary>
[GrainType("registry")]
public sealed class RegistryGrain(
    [PersistentState("registry", QuotaStorage.Name)] IPersistentState<RegistryState> state) : Grain, IRegistryGrain
{
    /// <inheritdoc />
    public async Task MarkAsync(SubjectKind kind, string id, bool configured)
    {
        var set = kind switch
        {
            SubjectKind.User => state.State.Users,
            SubjectKind.Resource => state.State.Resources,
            _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "Only users and resources are listed here; keys go through MarkKeyAsync."),
        };
        if (configured ? set.Add(id) : set.Remove(id))
        {
            await state.WriteStateAsync();
        }
    }

    /// <inheritdoc />
    public async Task MarkKeyAsync(string user, string keyId, bool registered)
    {
        var changed = false;
        if (registered)
        {
            if (!state.State.Keys.TryGetValue(user, out var keys))
            {
                state.State.Keys[user] = keys = [];
            }

            changed = keys.Add(keyId);
        }
        else if (state.State.Keys.TryGetValue(user, out var keys))
        {
            changed = keys.Remove(keyId);
            if (keys.Count == 0)
            {
                state.State.Keys.Remove(user);
            }
        }

        if (changed)
        {
            await state.WriteStateAsync();
        }
    }

    /// <inheritdoc />
    public Task<string[]> ListAsync(SubjectKind kind) => Task.FromResult(kind switch
    {
        SubjectKind.User => state.State.Users.Order(StringComparer.Ordinal).ToArray(),
        SubjectKind.Resource => state.State.Resources.Order(StringComparer.Ordinal).ToArray(),
        SubjectKind.ApiKey => state.State.Keys.Values.SelectMany(k => k).Order(StringComparer.Ordinal).ToArray(),
        _ => [],
    });

    /// <inheritdoc />
    public Task<string[]> KeysOfAsync(string user) =>
        Task.FromResult(state.State.Keys.TryGetValue(user, out var keys) ? keys.Order(StringComparer.Ordinal).ToArray() : []);

    /// <inheritdoc />
    public async Task MarkQueueAsync(string name, bool defined)
    {
        if (defined ? state.State.Queues.Add(name) : state.State.Queues.Remove(name))
        {
            await state.WriteStateAsync();
        }
    }

    /// <inheritdoc />
    public Task<string[]> ListQueuesAsync(string? after, int limit) => Task.FromResult(state.State.Queues
        .Where(name => after is null || string.CompareOrdinal(name, after) > 0)
        .Order(StringComparer.Ordinal)
        .Take(Math.Max(0, limit))
        .ToArray());
}

/// <summary>The registry's persisted state.</summary>
[GenerateSerializer, Alias("quota.RegistryState")]
public sealed class RegistryState
{
    /// <summary>Users with own policies.</summary>
    [Id(0)] public HashSet<string> Users { get; set; } = new(StringComparer.Ordinal);

    /// <summary>Resources with own policies.</summary>
    [Id(1)] public HashSet<string> Resources { get; set; } = new(StringComparer.Ordinal);

    /// <summary>Each user's key ids.</summary>
    [Id(2)] public Dictionary<string, HashSet<string>> Keys { get; set; } = new(StringComparer.Ordinal);

    /// <summary>Defined queues (state stored before queues were listed here has none: each registers when it activates).</summary>
    [Id(3)] public HashSet<string> Queues { get; set; } = new(StringComparer.Ordinal);
}
