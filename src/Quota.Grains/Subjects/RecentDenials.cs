using Quota.Abstractions;

namespace Quota.Grains.Subjects;

/// <summary>
/// The last denials a policy made on this silo (subject kind, id, policy, when), for the console's overview. Kept in
/// memory only, bounded to <see cref="Capacity"/> entries (the oldest is overwritten), never exported as a metric:
/// subject ids are unbounded, so they stay out of metric tags and live only where an administrator reads them.
/// </summary>
public sealed class RecentDenials
{
    /// <summary>How many denials are kept.</summary>
    public const int Capacity = 512;

    private readonly Denial[] _ring = new Denial[Capacity];
    private readonly Lock _lock = new();
    private long _written;

    /// <summary>Records that <paramref name="policy"/> of subject <paramref name="kind"/>:<paramref name="id"/> denied at <paramref name="at"/>.</summary>
    public void Add(SubjectKind kind, string id, string policy, DateTimeOffset at)
    {
        // One short lock per denial: denials are the slower path (the caller gets a 429), and a torn entry would show a
        // subject next to another's policy.
        lock (_lock)
        {
            _ring[_written % Capacity] = new Denial(kind, id, policy, at);
            _written++;
        }
    }

    /// <summary>The kept denials at or after <paramref name="since"/>, newest first.</summary>
    public IReadOnlyList<Denial> Since(DateTimeOffset since)
    {
        lock (_lock)
        {
            var count = (int)Math.Min(_written, Capacity);
            var result = new List<Denial>(count);
            for (var i = 1; i <= count; i++)
            {
                var denial = _ring[(_written - i) % Capacity];
                if (denial.At >= since)
                {
                    result.Add(denial);
                }
            }

            return result;
        }
    }

    /// <summary>One denial: which subject, which of its policies, when (sent to the silo showing the cluster overview).</summary>
    [GenerateSerializer, Immutable, Alias("quota.RecentDenial")]
    public readonly record struct Denial(
        [property: Id(0)] SubjectKind Kind,
        [property: Id(1)] string Id,
        [property: Id(2)] string Policy,
        [property: Id(3)] DateTimeOffset At);
}
