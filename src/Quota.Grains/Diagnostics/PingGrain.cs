using Orleans.Concurrency;
using Quota.Abstractions;

namespace Quota.Grains.Diagnostics;

/// <summary>Answers at once; see <see cref="IPingGrain"/>.</summary>
[Reentrant]
[GrainType("ping")]
public sealed class PingGrain : Grain, IPingGrain
{
    /// <inheritdoc />
    public Task<long> PingAsync(long value) => Task.FromResult(value);
}
