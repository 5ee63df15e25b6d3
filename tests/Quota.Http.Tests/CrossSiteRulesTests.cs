using Microsoft.AspNetCore.Http;
using Quota.Server.Http;

namespace Quota.Http.Tests;

/// <summary><see cref="CrossSiteGuard"/>'s two rules directly: what is the request's own origin, and what is JSON.</summary>
public sealed class CrossSiteRulesTests
{
    [Theory]
    [InlineData("http", "127.0.0.1:8080", "http://127.0.0.1:8080")]
    [InlineData("http", "LocalHost:8080", "http://localhost:8080")]
    [InlineData("http", "quota.example", "http://quota.example:80")]
    [InlineData("https", "quota.example", "https://quota.example")]
    [InlineData("https", "quota.example:443", "https://quota.example")]
    [InlineData("http", "[::1]:8080", "http://[::1]:8080")]
    public void The_request_s_own_origin_is_the_same(string scheme, string host, string origin)
    {
        Assert.True(CrossSiteGuard.SameOrigin(origin, Request(scheme, host)));
    }

    [Theory]
    [InlineData("http://evil.example")]
    [InlineData("http://127.0.0.1:8081")]
    [InlineData("https://127.0.0.1:8080")]
    [InlineData("http://127.0.0.1")]
    [InlineData("http://localhost:8080")]
    [InlineData("null")]
    [InlineData("")]
    [InlineData("file:///tmp/page.html")]
    [InlineData("http://127.0.0.1:8080 http://evil.example")]
    public void Any_other_origin_is_foreign(string origin)
    {
        Assert.False(CrossSiteGuard.SameOrigin(origin, Request("http", "127.0.0.1:8080")));
    }

    [Theory]
    [InlineData("application/json")]
    [InlineData("application/json; charset=utf-8")]
    [InlineData("Application/JSON")]
    [InlineData("application/problem+json")]
    [InlineData("application/vnd.quota+json; charset=utf-8")]
    public void JSON_types_are_accepted(string contentType)
    {
        Assert.True(CrossSiteGuard.Accepts(["application/json"], contentType));
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("text/plain")]
    [InlineData("text/plain; charset=utf-8")]
    [InlineData("application/x-www-form-urlencoded")]
    [InlineData("multipart/form-data; boundary=x")]
    [InlineData("application/jsonp")]
    [InlineData("+json")]
    [InlineData("application/yaml")]
    public void Other_types_are_not_JSON(string? contentType)
    {
        Assert.False(CrossSiteGuard.Accepts(["application/json"], contentType));
    }

    [Fact]
    public void Declared_types_replace_JSON()
    {
        string[] apply = ["application/json", "application/yaml", "text/yaml"];

        Assert.True(CrossSiteGuard.Accepts(apply, "application/yaml"));
        Assert.True(CrossSiteGuard.Accepts(apply, "text/yaml; charset=utf-8"));
        Assert.False(CrossSiteGuard.Accepts(apply, "text/plain"));
        Assert.False(CrossSiteGuard.Accepts(["application/x-www-form-urlencoded"], "application/json"));
    }

    private static HttpRequest Request(string scheme, string host)
    {
        var context = new DefaultHttpContext();
        context.Request.Scheme = scheme;
        context.Request.Host = new HostString(host);
        return context.Request;
    }
}
