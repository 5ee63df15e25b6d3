using Quota.Algorithms.Planning;

namespace Quota.Algorithms.Tests.Planning;

/// <summary>Exponential backoff with full jitter, on exact draws.</summary>
public sealed class BackoffTests
{
    private static readonly TimeSpan Base = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan Max = TimeSpan.FromSeconds(60);

    [Theory]
    [InlineData(1, 1)]
    [InlineData(2, 2)]
    [InlineData(3, 4)]
    [InlineData(6, 32)]
    [InlineData(7, 60)]
    [InlineData(1000, 60)]
    public void TheCapDoublesPerAttemptUpToTheMaximum(int attempt, int seconds) =>
        Assert.Equal(TimeSpan.FromSeconds(seconds), Backoff.Cap(attempt, Base, Max));

    [Fact]
    public void FullJitterSpansZeroToTheCap()
    {
        Assert.Equal(TimeSpan.Zero, Backoff.Delay(3, Base, Max, 0, TimeSpan.Zero));
        Assert.Equal(TimeSpan.FromSeconds(2), Backoff.Delay(3, Base, Max, 0.5, TimeSpan.Zero));
        Assert.Equal(TimeSpan.FromSeconds(4), Backoff.Delay(3, Base, Max, 1, TimeSpan.Zero));
    }

    [Fact]
    public void AnUpstreamsRetryAfterIsAFloor()
    {
        Assert.Equal(TimeSpan.FromSeconds(30), Backoff.Delay(1, Base, Max, 1, TimeSpan.FromSeconds(30)));
        Assert.Equal(TimeSpan.FromSeconds(48), Backoff.Delay(7, Base, Max, 0.8, TimeSpan.FromSeconds(30)));
    }
}
