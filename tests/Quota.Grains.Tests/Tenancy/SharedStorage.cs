using System.Collections.Concurrent;
using Orleans.Storage;
using Quota.Grains.Storage;

namespace Quota.Grains.Tests.Tenancy;

/// <summary>
/// Grain storage that outlives any one silo, standing in for the database of the PostgreSQL mode in an in-process
/// cluster whose silos are killed (memory storage keeps each grain's state on one silo, and loses it with it). State
/// is stored as the same JSON the PostgreSQL mode writes, so every read is a fresh copy.
/// </summary>
public sealed class SharedStorage : IGrainStorage
{
    private readonly JsonGrainStateSerializer _serializer = new();
    private readonly ConcurrentDictionary<(GrainId, string), (BinaryData Data, long Version)> _rows = new();

    public Task ReadStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        if (_rows.TryGetValue((grainId, stateName), out var row))
        {
            grainState.State = _serializer.Deserialize<T>(row.Data);
            grainState.ETag = row.Version.ToString(System.Globalization.CultureInfo.InvariantCulture);
            grainState.RecordExists = true;
        }

        return Task.CompletedTask;
    }

    /// <summary>When set and true for a write (state name, grain), that write fails as a database outage would.</summary>
    public Func<string, GrainId, bool>? FailWrite { get; set; }

    public Task WriteStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        if (FailWrite?.Invoke(stateName, grainId) == true)
        {
            throw new InvalidOperationException($"Write of '{stateName}' failed (injected by the test).");
        }

        var version = _rows.AddOrUpdate(
            (grainId, stateName),
            _ => (_serializer.Serialize(grainState.State), 1),
            (_, old) => (_serializer.Serialize(grainState.State), old.Version + 1)).Version;
        grainState.ETag = version.ToString(System.Globalization.CultureInfo.InvariantCulture);
        grainState.RecordExists = true;
        return Task.CompletedTask;
    }

    public Task ClearStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        _rows.TryRemove((grainId, stateName), out _);
        grainState.ETag = null;
        grainState.RecordExists = false;
        return Task.CompletedTask;
    }
}
