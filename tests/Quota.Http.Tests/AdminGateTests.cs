using System.Net;
using System.Text;
using Microsoft.AspNetCore.Http;
using Quota.Server.Admin;

namespace Quota.Http.Tests;

/// <summary><see cref="AdminAccess.Decide"/> directly: the loopback rule needs callers from other machines, which a local test cannot be.</summary>
public sealed class AdminGateTests
{
    private static readonly byte[] Token = Encoding.UTF8.GetBytes("s3cret-admin-token");

    private static readonly HostString Local = new("127.0.0.1:8080");

    [Theory]
    [InlineData("127.0.0.1")]
    [InlineData("127.10.20.30")]
    [InlineData("::1")]
    [InlineData("::ffff:127.0.0.1")]
    public void Without_a_token_loopback_callers_are_let_through(string remote)
    {
        Assert.Null(AdminAccess.Decide(AdminRule.Loopback, null, string.Empty, IPAddress.Parse(remote), Local));
        Assert.Null(AdminAccess.Decide(AdminRule.Loopback, null, "Bearer anything", IPAddress.Parse(remote), Local));
    }

    [Theory]
    [InlineData("10.0.0.5")]
    [InlineData("::ffff:10.0.0.5")]
    [InlineData("192.168.1.20")]
    [InlineData("203.0.113.7")]
    [InlineData("fe80::1")]
    [InlineData("2001:db8::5")]
    [InlineData("0.0.0.0")]
    [InlineData("::")]
    public void Without_a_token_other_callers_are_403_whatever_they_send(string remote)
    {
        foreach (var authorization in new[] { string.Empty, "Bearer s3cret-admin-token", "Bearer " })
        {
            var verdict = AdminAccess.Decide(AdminRule.Loopback, null, authorization, IPAddress.Parse(remote), Local);

            Assert.NotNull(verdict);
            Assert.Equal(403, verdict.Value.Status);
            Assert.Equal("Forbidden", verdict.Value.Title);
            Assert.Contains("only callers on this machine may administer", verdict.Value.Detail, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Without_a_token_an_unknown_caller_is_403()
    {
        Assert.Equal(403, AdminAccess.Decide(AdminRule.Loopback, null, string.Empty, null, Local)?.Status);
    }

    [Theory]
    [InlineData("10.0.0.5")]
    [InlineData("::ffff:10.0.0.5")]
    [InlineData("127.0.0.1")]
    [InlineData(null)]
    public void With_a_token_the_right_one_is_let_through_from_anywhere(string? remote)
    {
        var address = remote is null ? null : IPAddress.Parse(remote);

        Assert.Null(AdminAccess.Decide(AdminRule.Token, Token, "Bearer s3cret-admin-token", address, Local));
        Assert.Null(AdminAccess.Decide(AdminRule.Token, Token, "bearer s3cret-admin-token ", address, Local));
    }

    [Theory]
    [InlineData("10.0.0.5")]
    [InlineData("127.0.0.1")]
    public void With_a_token_loopback_is_no_excuse(string remote)
    {
        var address = IPAddress.Parse(remote);

        Assert.Equal(401, AdminAccess.Decide(AdminRule.Token, Token, string.Empty, address, Local)?.Status);
        Assert.Equal(401, AdminAccess.Decide(AdminRule.Token, Token, "Basic czNjcmV0", address, Local)?.Status);
        Assert.Equal(403, AdminAccess.Decide(AdminRule.Token, Token, "Bearer wrong", address, Local)?.Status);
        Assert.Equal(403, AdminAccess.Decide(AdminRule.Token, Token, "Bearer s3cret-admin-toke", address, Local)?.Status);
        Assert.Equal(403, AdminAccess.Decide(AdminRule.Token, Token, "Bearer s3cret-admin-tokenn", address, Local)?.Status);
        Assert.Equal(403, AdminAccess.Decide(AdminRule.Token, Token, "Bearer ", address, Local)?.Status);
    }

    [Theory]
    [InlineData("127.0.0.1", "")]
    [InlineData("127.0.0.1", "Bearer s3cret-admin-token")]
    [InlineData("10.0.0.5", "Bearer s3cret-admin-token")]
    public void With_nobody_allowed_no_caller_is_let_through(string remote, string authorization)
    {
        var verdict = AdminAccess.Decide(AdminRule.Nobody, null, authorization, IPAddress.Parse(remote), Local);

        Assert.NotNull(verdict);
        Assert.Equal(403, verdict.Value.Status);
        Assert.Contains("Quota:Admin:AllowLoopback is false", verdict.Value.Detail, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("localhost:8080")]
    [InlineData("LOCALHOST")]
    [InlineData("127.0.0.1")]
    [InlineData("127.3.2.1:99")]
    [InlineData("[::1]:8080")]
    public void The_loopback_rule_takes_loopback_names(string host)
    {
        Assert.Null(AdminAccess.Decide(AdminRule.Loopback, null, string.Empty, IPAddress.Loopback, new HostString(host)));
    }

    [Theory]
    [InlineData("evil.example:8080")]
    [InlineData("evil.example")]
    [InlineData("localhost.evil.example")]
    [InlineData("10.0.0.5:8080")]
    public void The_loopback_rule_refuses_other_names_a_rebound_page_would_send(string host)
    {
        var verdict = AdminAccess.Decide(AdminRule.Loopback, null, string.Empty, IPAddress.Loopback, new HostString(host));

        Assert.Equal(403, verdict?.Status);
        Assert.Contains("address it as localhost or a loopback address", verdict!.Value.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void Only_a_wrong_token_counts_as_a_failed_credential()
    {
        Assert.True(AdminAccess.Decide(AdminRule.Token, Token, "Bearer wrong", IPAddress.Loopback, Local)?.WrongToken);
        Assert.False(AdminAccess.Decide(AdminRule.Token, Token, string.Empty, IPAddress.Loopback, Local)?.WrongToken);
        Assert.False(AdminAccess.Decide(AdminRule.Loopback, null, string.Empty, IPAddress.Parse("10.0.0.5"), Local)?.WrongToken);
    }
}
