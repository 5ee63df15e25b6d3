using Microsoft.Extensions.Logging;
using Orleans.Concurrency;
using Orleans.Services;
using Quota.Grains.Storage;
using Quota.Grains.Subjects;

namespace Quota.Grains.Diagnostics;

/// <summary>
/// What one silo tells the console's cluster overview about itself: its decision totals and rates, callers waiting,
/// active subjects against its ceiling, whether its durable writes get through, and its recent denials. Bounded and
/// cheap: counters, and at most <see cref="RecentDenials.Capacity"/> denials; no per-subject list travels.
/// </summary>
[GenerateSerializer, Immutable, Alias("quota.SiloNumbers")]
public sealed record SiloNumbers
{
    /// <summary>Subject decisions allowed on this silo since it started.</summary>
    [Id(0)] public required long Allowed { get; init; }

    /// <summary>Subject decisions denied (by a policy or a cost over the limit) on this silo since it started.</summary>
    [Id(1)] public required long Denied { get; init; }

    /// <summary>Allowed decisions per second over <see cref="RateOver"/>; null until the silo has two samples a second apart.</summary>
    [Id(2)] public double? AllowedPerSecond { get; init; }

    /// <summary>Denied decisions per second over <see cref="RateOver"/>; null as <see cref="AllowedPerSecond"/>.</summary>
    [Id(3)] public double? DeniedPerSecond { get; init; }

    /// <summary>The span the rates are measured over (up to a minute).</summary>
    [Id(4)] public TimeSpan RateOver { get; init; }

    /// <summary>Callers waiting in this silo's subjects' queues now.</summary>
    [Id(5)] public required long Waiting { get; init; }

    /// <summary>Active users, keys and resources on this silo (<see cref="Subjects.ActiveSubjects.Count"/>).</summary>
    [Id(6)] public required int ActiveSubjects { get; init; }

    /// <summary>The most this silo admits (<see cref="Subjects.ActiveSubjects.Ceiling"/>).</summary>
    [Id(7)] public required int Ceiling { get; init; }

    /// <summary>Null while durable writes get through; otherwise since when and why they fail.</summary>
    [Id(8)] public StorageProblem? Storage { get; init; }

    /// <summary>The denials kept on this silo since the time asked for, newest first (at most <see cref="RecentDenials.Capacity"/>).</summary>
    [Id(9)] public required RecentDenials.Denial[] Denials { get; init; }
}

/// <summary>
/// A silo's own numbers, asked of each silo by <see cref="ClusterNumbers"/>. A grain service: Orleans starts one on
/// every silo, and a caller names the silo it means (the Orleans Dashboard reads each silo the same way).
/// </summary>
[Alias("quota.ISiloNumbersService")]
public interface ISiloNumbersService : IGrainService
{
    /// <summary>This silo's numbers now, with the denials kept at or after <paramref name="denialsSince"/>.</summary>
    [Alias("ReadSiloNumbers")]
    Task<SiloNumbers> ReadAsync(DateTimeOffset denialsSince);
}

/// <summary>Answers <see cref="ISiloNumbersService"/> from this silo's in-memory counters; reads only, so reentrant.</summary>
[Reentrant]
internal sealed class SiloNumbersService(
    GrainId id,
    Silo silo,
    ILoggerFactory loggerFactory,
    DecisionRates rates,
    QuotaInstruments instruments,
    ActiveSubjects active,
    StorageHealth storage,
    RecentDenials denials) : GrainService(id, silo, loggerFactory), ISiloNumbersService
{
    /// <inheritdoc />
    public Task<SiloNumbers> ReadAsync(DateTimeOffset denialsSince)
    {
        var (allowed, denied, allowedPerSecond, deniedPerSecond, over) = rates.Read();
        return Task.FromResult(new SiloNumbers
        {
            Allowed = allowed,
            Denied = denied,
            AllowedPerSecond = allowedPerSecond,
            DeniedPerSecond = deniedPerSecond,
            RateOver = over,
            Waiting = instruments.WaitingNow,
            ActiveSubjects = active.Count,
            Ceiling = active.Ceiling,
            Storage = storage.Problem,
            Denials = [.. denials.Since(denialsSince)],
        });
    }
}
