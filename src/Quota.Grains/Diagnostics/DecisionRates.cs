namespace Quota.Grains.Diagnostics;

/// <summary>
/// Decisions per second on this silo for the console's overview: the totals of <see cref="QuotaInstruments"/> are
/// sampled when the silo is asked for its numbers (<see cref="ISiloNumbersService"/>, at most one sample a second, the
/// last minute kept) and the rate is the difference over the oldest kept sample. Nothing runs in the background; until
/// a second sample exists there is no rate.
/// </summary>
public sealed class DecisionRates(QuotaInstruments instruments, QuotaTime time)
{
    private static readonly TimeSpan Kept = TimeSpan.FromMinutes(1);
    private readonly Queue<(DateTimeOffset At, long Allowed, long Denied)> _samples = new();
    private readonly Lock _lock = new();

    /// <summary>Totals since start and, once two samples are a second apart, allowed and denied per second.</summary>
    public (long Allowed, long Denied, double? AllowedPerSecond, double? DeniedPerSecond, TimeSpan Over) Read()
    {
        var (allowed, denied) = instruments.DecisionTotals();
        var now = time.Provider.GetUtcNow();
        lock (_lock)
        {
            while (_samples.Count > 1 && now - _samples.Peek().At > Kept)
            {
                _samples.Dequeue();
            }

            if (_samples.Count == 0 || now - _samples.Last().At >= TimeSpan.FromSeconds(1))
            {
                _samples.Enqueue((now, allowed, denied));
            }

            var first = _samples.Peek();
            var span = now - first.At;
            return span < TimeSpan.FromSeconds(1)
                ? (allowed, denied, null, null, span)
                : (allowed, denied, (allowed - first.Allowed) / span.TotalSeconds, (denied - first.Denied) / span.TotalSeconds, span);
        }
    }
}
