using Orleans.Storage;

namespace Quota.Grains.Storage;

/// <summary>
/// Wraps the ADO.NET grain storage so each grain's row is its own. That provider keys a row by service id, state
/// name and the grain's key only, not the grain type, and reads a key that parses as hexadecimal as a number: left
/// alone, user <c>alice</c> and resource <c>alice</c> would share their <c>config</c> row, and users <c>cafe</c>
/// and <c>CAFE</c> would too. Here the state name carries the grain type (<c>user.config</c>) and the key a prefix
/// that never parses as a number (<c>k:alice</c>).
/// </summary>
public sealed class TypeScopedGrainStorage(IGrainStorage inner) : IGrainStorage
{
    /// <summary>The state name stored for <paramref name="stateName"/> of <paramref name="grainId"/>.</summary>
    public static string StateName(string stateName, GrainId grainId) => $"{grainId.Type}.{stateName}";

    /// <summary>The grain id stored for <paramref name="grainId"/>: same type, key prefixed with <c>k:</c>.</summary>
    public static GrainId StoredId(GrainId grainId) => GrainId.Create(grainId.Type, "k:" + grainId.Key);

    /// <inheritdoc />
    public Task ReadStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState) =>
        inner.ReadStateAsync(StateName(stateName, grainId), StoredId(grainId), grainState);

    /// <inheritdoc />
    public Task WriteStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState) =>
        inner.WriteStateAsync(StateName(stateName, grainId), StoredId(grainId), grainState);

    /// <inheritdoc />
    public Task ClearStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState) =>
        inner.ClearStateAsync(StateName(stateName, grainId), StoredId(grainId), grainState);
}
