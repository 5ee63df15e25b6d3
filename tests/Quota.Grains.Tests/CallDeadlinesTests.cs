using Microsoft.Extensions.Time.Testing;
using Quota.Client;

namespace Quota.Grains.Tests;

/// <summary>The client's shared deadlines: never early, at most one resolution late, one source per tick, dropped as it fires.</summary>
public sealed class CallDeadlinesTests
{
    [Fact]
    public void Calls_due_in_one_tick_share_a_token_that_fires_no_earlier_than_asked_and_at_most_a_resolution_later()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 12, 7, 0, 0, 0, 100, TimeSpan.Zero));
        var deadlines = new CallDeadlines(time);
        var first = deadlines.After(TimeSpan.FromSeconds(10));
        time.Advance(TimeSpan.FromMilliseconds(100));
        var second = deadlines.After(TimeSpan.FromSeconds(10)); // due 100 ms later, the same 250 ms tick
        var later = deadlines.After(TimeSpan.FromSeconds(11));

        Assert.Equal(first, second);
        Assert.NotEqual(first, later);
        Assert.Equal(2, deadlines.Pending);

        // The first was asked for 10 s at .100: due at 10.100, its tick ends at 10.250.
        time.Advance(TimeSpan.FromMilliseconds(9_899)); // 9.999 s after the first was asked
        Assert.False(first.IsCancellationRequested);
        time.Advance(TimeSpan.FromMilliseconds(150)); // 10.149 s: past both calls' due times (10.100, 10.200), within the tick
        Assert.False(first.IsCancellationRequested);
        time.Advance(TimeSpan.FromMilliseconds(1)); // 10.150 s after the first was asked, 10.250 on the clock: the tick's end
        Assert.True(first.IsCancellationRequested);
        Assert.False(later.IsCancellationRequested);
        Assert.Equal(1, deadlines.Pending);

        time.Advance(TimeSpan.FromSeconds(1));
        Assert.True(later.IsCancellationRequested);
        Assert.Equal(0, deadlines.Pending);
    }

    [Fact]
    public void A_deadline_of_zero_fires_within_one_resolution()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 12, 7, 0, 0, 0, 0, TimeSpan.Zero));
        var deadlines = new CallDeadlines(time);
        var token = deadlines.After(TimeSpan.Zero);

        Assert.False(token.IsCancellationRequested);
        time.Advance(CallDeadlines.Resolution);
        Assert.True(token.IsCancellationRequested);
    }
}
