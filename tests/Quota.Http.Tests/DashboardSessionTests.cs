using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using Quota.Grains;
using Quota.Server.Admin;

namespace Quota.Http.Tests;

/// <summary><see cref="DashboardSessions"/> on a fake clock: signed, expiring, revocable, bound to the token.</summary>
public sealed class DashboardSessionTests
{
    private const string Token = "dashboard-session-test-token";

    private readonly FakeTimeProvider _clock = new(new DateTimeOffset(2026, 12, 7, 0, 0, 0, TimeSpan.Zero));

    private DashboardSessions Sessions(string token = Token) =>
        new(Options.Create(new AdminOptions { Token = token, DashboardSessionLifetime = TimeSpan.FromHours(1) }), new QuotaTime(_clock));

    [Fact]
    public void A_session_holds_no_part_of_the_token_and_is_valid_until_it_expires()
    {
        var sessions = Sessions();
        var session = sessions.Issue();

        Assert.DoesNotContain(Token, session, StringComparison.Ordinal);
        Assert.Equal(3, session.Split('.').Length);
        Assert.True(sessions.IsValid(session));
        _clock.Advance(TimeSpan.FromHours(1) - TimeSpan.FromSeconds(1));
        Assert.True(sessions.IsValid(session));
        _clock.Advance(TimeSpan.FromSeconds(1));
        Assert.False(sessions.IsValid(session));
    }

    [Fact]
    public void Every_silo_with_the_same_token_accepts_it_and_a_new_token_ends_it()
    {
        var session = Sessions().Issue();

        Assert.True(Sessions().IsValid(session));
        Assert.False(Sessions("rotated-dashboard-token").IsValid(session));
    }

    [Fact]
    public void Signing_out_ends_the_session_here_and_no_other()
    {
        var sessions = Sessions();
        var ended = sessions.Issue();
        var other = sessions.Issue();

        sessions.Revoke(ended);

        Assert.False(sessions.IsValid(ended));
        Assert.True(sessions.IsValid(other));
    }

    [Theory]
    [InlineData("")]
    [InlineData("quota-dashboard-session-test-token")]
    [InlineData(Token)]
    [InlineData("a.b.c")]
    [InlineData("a.99999999999.c")]
    public void Anything_else_is_not_a_session(string value)
    {
        Assert.False(Sessions().IsValid(value));
    }

    [Fact]
    public void A_changed_expiry_or_id_breaks_the_signature()
    {
        var sessions = Sessions();
        var parts = sessions.Issue().Split('.');

        Assert.False(sessions.IsValid($"{parts[0]}.{long.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture) + 3600}.{parts[2]}"));
        Assert.False(sessions.IsValid($"{parts[0]}x.{parts[1]}.{parts[2]}"));
    }
}
