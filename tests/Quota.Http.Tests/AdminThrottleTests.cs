using System.Net;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using Quota.Grains;
using Quota.Server.Admin;

namespace Quota.Http.Tests;

/// <summary><see cref="AdminThrottle"/> on a fake clock: the window, the lock-out, and the bounded table.</summary>
public sealed class AdminThrottleTests
{
    private readonly FakeTimeProvider _clock = new(new DateTimeOffset(2026, 12, 7, 0, 0, 0, TimeSpan.Zero));

    private AdminThrottle Throttle(int maxFailures = 3) =>
        new(Options.Create(new AdminOptions { MaxFailures = maxFailures, FailureWindow = TimeSpan.FromMinutes(1) }), new QuotaTime(_clock));

    [Fact]
    public void A_source_is_locked_out_at_the_limit_until_its_window_ends()
    {
        var throttle = Throttle();
        var source = IPAddress.Parse("203.0.113.7");

        Assert.False(throttle.Failed(source));
        _clock.Advance(TimeSpan.FromSeconds(10));
        Assert.False(throttle.Failed(source));
        Assert.Null(throttle.LockedOut(source));
        Assert.True(throttle.Failed(source));

        Assert.Equal(TimeSpan.FromSeconds(50), throttle.LockedOut(source));
        _clock.Advance(TimeSpan.FromSeconds(49));
        Assert.Equal(TimeSpan.FromSeconds(1), throttle.LockedOut(source));
        _clock.Advance(TimeSpan.FromSeconds(1));
        Assert.Null(throttle.LockedOut(source));

        // A new window starts from the next failure.
        Assert.False(throttle.Failed(source));
        Assert.Null(throttle.LockedOut(source));
    }

    [Fact]
    public void Failures_in_separate_windows_do_not_add_up()
    {
        var throttle = Throttle();
        var source = IPAddress.Parse("198.51.100.1");

        throttle.Failed(source);
        throttle.Failed(source);
        _clock.Advance(TimeSpan.FromMinutes(1));
        throttle.Failed(source);
        throttle.Failed(source);

        Assert.Null(throttle.LockedOut(source));
    }

    [Fact]
    public void Other_sources_are_not_affected()
    {
        var throttle = Throttle(maxFailures: 1);

        throttle.Failed(IPAddress.Parse("10.0.0.5"));

        Assert.Equal(TimeSpan.FromMinutes(1), throttle.LockedOut(IPAddress.Parse("10.0.0.5")));
        Assert.Equal(TimeSpan.FromMinutes(1), throttle.LockedOut(IPAddress.Parse("::ffff:10.0.0.5")));
        Assert.Null(throttle.LockedOut(IPAddress.Parse("10.0.0.6")));
        Assert.Null(throttle.LockedOut(IPAddress.Parse("127.0.0.1")));
    }

    [Fact]
    public void An_IPv6_network_counts_as_one_source()
    {
        var throttle = Throttle(maxFailures: 2);

        throttle.Failed(IPAddress.Parse("2001:db8:1:2::1"));
        throttle.Failed(IPAddress.Parse("2001:db8:1:2:ffff::9"));

        Assert.Equal(TimeSpan.FromMinutes(1), throttle.LockedOut(IPAddress.Parse("2001:db8:1:2::77")));
        Assert.Null(throttle.LockedOut(IPAddress.Parse("2001:db8:1:3::1")));
    }

    [Fact]
    public void The_table_stays_bounded_and_drops_ended_windows_then_the_oldest()
    {
        var throttle = Throttle(maxFailures: 1);
        for (var i = 0; i < AdminThrottle.Capacity; i++)
        {
            throttle.Failed(new IPAddress(0x0A000000u + (uint)i));
            if (i == 0)
            {
                _clock.Advance(TimeSpan.FromSeconds(1));
            }
        }

        Assert.Equal(AdminThrottle.Capacity, throttle.Count);
        var first = new IPAddress(0x0A000000u);
        Assert.Equal(TimeSpan.FromSeconds(59), throttle.LockedOut(first)); // it failed a second before the rest

        // Full, every window live: the oldest (the first) makes room.
        throttle.Failed(IPAddress.Parse("192.0.2.1"));
        Assert.Equal(AdminThrottle.Capacity, throttle.Count);
        Assert.Null(throttle.LockedOut(first));
        Assert.Equal(TimeSpan.FromMinutes(1), throttle.LockedOut(IPAddress.Parse("192.0.2.1")));

        // Once the windows have ended, a new source clears them all.
        _clock.Advance(TimeSpan.FromMinutes(1));
        throttle.Failed(IPAddress.Parse("192.0.2.2"));
        Assert.Equal(1, throttle.Count);
    }
}
