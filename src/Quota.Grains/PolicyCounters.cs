using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Quota.Abstractions;

namespace Quota.Grains;

/// <summary>
/// Decisions counted per policy name and subject kind: acquired, denied, and allowed near the limit. Counted in plain
/// cells and observed when a reader collects (as <see cref="QuotaInstruments"/> does for <c>quota.decisions</c>): a
/// counter with tags would cost a tag-set lookup per policy per decision. At most <c>maxNames</c> distinct policy names
/// get their own series; later names are folded into <see cref="Other"/>, so the series stay bounded whatever the
/// configuration holds. Never a subject's id.
/// </summary>
internal sealed class PolicyCounters
{
    /// <summary>The label value decisions under names past the cap are counted under.</summary>
    public const string Other = "other";

    private const int AcquiredCell = 0;
    private const int DeniedCell = 1;
    private const int NearLimitCell = 2;
    private const int Results = 3;
    private static readonly int KindCount = Enum.GetValues<SubjectKind>().Length;

    private readonly ConcurrentDictionary<string, Series> _byName = new(StringComparer.Ordinal);
    private readonly Lock _adding = new();
    private readonly int _maxNames;
    private readonly double _nearLimitRatio;
    private readonly Series _other;

    public PolicyCounters(int maxNames, double nearLimitRatio)
    {
        _maxNames = maxNames;
        _nearLimitRatio = nearLimitRatio;
        _other = new Series(Other);
    }

    /// <summary>Counts an allowed decision on each of <paramref name="policies"/> (read after it), and each one near its limit.</summary>
    public void Allowed(SubjectKind kind, PolicyReading[] policies)
    {
        if ((uint)kind >= (uint)KindCount)
        {
            return;
        }

        foreach (var reading in policies)
        {
            var series = For(reading.Policy);
            Interlocked.Increment(ref series.Cells[((int)kind * Results) + AcquiredCell]);

            // Subtract, don't add: limit - remaining cannot overflow where remaining + used could.
            if (reading.Limit > 0 && reading.Limit - reading.Remaining >= _nearLimitRatio * reading.Limit)
            {
                Interlocked.Increment(ref series.Cells[((int)kind * Results) + NearLimitCell]);
            }
        }
    }

    /// <summary>Counts a denial by <paramref name="policy"/>.</summary>
    public void Denied(SubjectKind kind, string policy)
    {
        if ((uint)kind < (uint)KindCount)
        {
            Interlocked.Increment(ref For(policy).Cells[((int)kind * Results) + DeniedCell]);
        }
    }

    /// <summary>The <c>quota.rate_limiting.requests</c> measurements: acquired and denied per policy and kind.</summary>
    public IEnumerable<Measurement<long>> ObserveRequests()
    {
        foreach (var series in AllSeries())
        {
            foreach (var measurement in series.Observe(AcquiredCell, "acquired").Concat(series.Observe(DeniedCell, "denied")))
            {
                yield return measurement;
            }
        }
    }

    /// <summary>The <c>quota.rate_limiting.near_limit</c> measurements per policy and kind.</summary>
    public IEnumerable<Measurement<long>> ObserveNearLimit() => AllSeries().SelectMany(series => series.Observe(NearLimitCell, null));

    private IEnumerable<Series> AllSeries() => _byName.Values.Append(_other);

    private Series For(string policy)
    {
        if (_byName.TryGetValue(policy, out var series))
        {
            return series;
        }

        lock (_adding)
        {
            if (_byName.TryGetValue(policy, out series))
            {
                return series;
            }

            if (_byName.Count >= _maxNames || policy == Other)
            {
                return _other;
            }

            series = new Series(policy);
            _byName[policy] = series;
            return series;
        }
    }

    private sealed class Series(string name)
    {
        public readonly long[] Cells = new long[KindCount * Results];
        private readonly KeyValuePair<string, object?>[]?[] _tags = new KeyValuePair<string, object?>[]?[KindCount * Results];

        public IEnumerable<Measurement<long>> Observe(int result, string? resultName)
        {
            for (var kind = 0; kind < KindCount; kind++)
            {
                var cell = (kind * Results) + result;
                var count = Interlocked.Read(ref Cells[cell]);
                if (count > 0)
                {
                    yield return new Measurement<long>(count, _tags[cell] ??= Tags((SubjectKind)kind, resultName));
                }
            }
        }

        private KeyValuePair<string, object?>[] Tags(SubjectKind kind, string? resultName) => resultName is null
            ? [new(QuotaInstruments.PolicyTag, name), new(QuotaInstruments.SubjectKindTag, SubjectNames.Prefix(kind))]
            : [new(QuotaInstruments.PolicyTag, name), new(QuotaInstruments.SubjectKindTag, SubjectNames.Prefix(kind)), new(QuotaInstruments.ResultTag, resultName)];
    }
}
