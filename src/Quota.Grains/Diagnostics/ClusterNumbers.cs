using Orleans.Runtime.Services;

namespace Quota.Grains.Diagnostics;

/// <summary>
/// The console's cluster overview: asks every active silo in the membership for its <see cref="SiloNumbers"/> at once
/// (through its <see cref="ISiloNumbersService"/>) and waits at most <see cref="AnswerBound"/> for each. A silo that
/// does not answer in time, or cannot be reached, is shown as not answering; the others are shown all the same.
/// </summary>
/// <remarks>
/// It runs in a silo only (a grain service client needs the silo's runtime); the HTTP front door always runs in one.
/// A silo that times out keeps its call open until Orleans' response timeout; the page asks again every 2 s, so a hung
/// silo holds at most that timeout's worth of such calls.
/// </remarks>
public sealed class ClusterNumbers(IServiceProvider services, IClusterMembershipService membership, ILocalSiloDetails local)
    : GrainServiceClient<ISiloNumbersService>(services)
{
    /// <summary>
    /// How long a silo may take to answer. Its answer is a few counters read from memory; one that takes longer is
    /// stalled or overloaded, which is what the overview should say. The page refreshes every 2 s.
    /// </summary>
    public static readonly TimeSpan AnswerBound = TimeSpan.FromSeconds(2);

    /// <summary>
    /// Every active silo's numbers (ordered by address, the silo asking marked as <see cref="SiloReading.Local"/>), with the
    /// denials each kept at or after <paramref name="denialsSince"/>.
    /// </summary>
    public async Task<IReadOnlyList<SiloReading>> ReadAsync(DateTimeOffset denialsSince, CancellationToken cancellationToken = default)
    {
        var silos = membership.CurrentSnapshot.Members.Values
            .Where(member => member.Status == SiloStatus.Active)
            .OrderBy(member => member.SiloAddress.ToParsableString(), StringComparer.Ordinal)
            .ToList();
        return await Task.WhenAll(silos.Select(silo => ReadOneAsync(silo, denialsSince, cancellationToken)));
    }

    private async Task<SiloReading> ReadOneAsync(ClusterMember silo, DateTimeOffset denialsSince, CancellationToken cancellationToken)
    {
        var reading = new SiloReading(silo.Name, silo.SiloAddress.Endpoint.ToString(), silo.SiloAddress.Equals(local.SiloAddress), null, null);
        try
        {
            var numbers = await GetGrainService(silo.SiloAddress).ReadAsync(denialsSince).WaitAsync(AnswerBound, cancellationToken);
            return reading with { Numbers = numbers };
        }
        catch (TimeoutException)
        {
            return reading with { NotAnswering = $"did not answer within {AnswerBound.TotalSeconds} s" };
        }
        catch (OrleansException e)
        {
            // Unreachable (a silo leaving, a connection refused): the type says which; the message may name hosts.
            return reading with { NotAnswering = $"could not be reached ({e.GetType().Name})" };
        }
    }
}

/// <summary>One silo in the cluster overview: its numbers, or why there are none.</summary>
/// <param name="Name">The silo's name (Orleans' silo name: the host or pod name).</param>
/// <param name="Endpoint">The silo's silo-to-silo endpoint, e.g. <c>10.0.0.5:11111</c>.</param>
/// <param name="Local">Whether this is the silo that asked (the one serving the page).</param>
/// <param name="Numbers">What it answered; null when it did not.</param>
/// <param name="NotAnswering">Why it is shown without numbers; null when it answered.</param>
public sealed record SiloReading(string Name, string Endpoint, bool Local, SiloNumbers? Numbers, string? NotAnswering);
