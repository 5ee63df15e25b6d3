using Grpc.Core;

namespace Quota.Rls.Tests;

/// <summary>
/// <c>ShouldRateLimit</c> against a real silo through a client generated from the same protocol: matching, overrides,
/// hits, shadow mode, all or nothing, statuses, headers, unknown domains and bad requests.
/// </summary>
[Collection(RlsCollection.Name)]
public sealed class DecisionTests(RlsSilo silo)
{
    private RateLimitService.RateLimitServiceClient Rls => silo.Rls;

    private static readonly CancellationToken None = CancellationToken.None;

    private async Task<RateLimitResponse> AskAsync(RateLimitRequest request) => await Rls.ShouldRateLimitAsync(request, cancellationToken: TestContext.Current.CancellationToken);

    [Fact]
    public async Task AValueRuleAdmitsExactlyItsLimitThenIsOverLimit()
    {
        var domain = RlsSilo.NewDomain("value");
        await silo.PutDomainAsync(domain, """[ { "key": "remote_address", "value": "10.0.0.1", "rate_limit": { "unit": "minute", "requests_per_unit": 2 } } ]""");
        var request = For(domain, Descriptor(("remote_address", "10.0.0.1")));

        var first = await AskAsync(request);
        var second = await AskAsync(request);
        var third = await AskAsync(request);

        Assert.Equal([Code.Ok, Code.Ok, Code.OverLimit], new[] { first.OverallCode, second.OverallCode, third.OverallCode });
        Assert.Equal([1u, 0u, 0u], new[] { first.Statuses[0].LimitRemaining, second.Statuses[0].LimitRemaining, third.Statuses[0].LimitRemaining });
        Assert.Equal(Code.OverLimit, third.Statuses[0].Code);
        Assert.Equal(2u, third.Statuses[0].CurrentLimit.RequestsPerUnit);
        Assert.Equal(Unit.Minute, third.Statuses[0].CurrentLimit.Unit);
        Assert.InRange(third.Statuses[0].DurationUntilReset.ToTimeSpan(), TimeSpan.FromMilliseconds(1), TimeSpan.FromMinutes(1));

        // Another value of the same key matches no rule: OK, with no limit.
        var other = await AskAsync(For(domain, Descriptor(("remote_address", "10.0.0.2"))));
        Assert.Equal(Code.Ok, other.OverallCode);
        Assert.Null(other.Statuses[0].CurrentLimit);
    }

    [Fact]
    public async Task ABareKeyCountsEachValueApart()
    {
        var domain = RlsSilo.NewDomain("bare");
        await silo.PutDomainAsync(domain, """[ { "key": "user", "rate_limit": { "unit": "hour", "requests_per_unit": 1 } } ]""");

        var alice = await AskAsync(For(domain, Descriptor(("user", "alice"))));
        var bob = await AskAsync(For(domain, Descriptor(("user", "bob"))));
        var aliceAgain = await AskAsync(For(domain, Descriptor(("user", "alice"))));

        Assert.Equal(Code.Ok, alice.OverallCode);
        Assert.Equal(Code.Ok, bob.OverallCode);
        Assert.Equal(Code.OverLimit, aliceAgain.OverallCode);
        Assert.Equal(Unit.Hour, aliceAgain.Statuses[0].CurrentLimit.Unit);
    }

    [Fact]
    public async Task AWildcardValueMatchesByPrefixEachValueApart()
    {
        var domain = RlsSilo.NewDomain("wild");
        await silo.PutDomainAsync(domain, """[ { "key": "path", "value": "/api/*", "rate_limit": { "unit": "minute", "requests_per_unit": 1 } } ]""");

        var x = await AskAsync(For(domain, Descriptor(("path", "/api/x"))));
        var y = await AskAsync(For(domain, Descriptor(("path", "/api/y"))));
        var xAgain = await AskAsync(For(domain, Descriptor(("path", "/api/x"))));
        var elsewhere = await AskAsync(For(domain, Descriptor(("path", "/static/x"))));

        Assert.Equal([Code.Ok, Code.Ok, Code.OverLimit], new[] { x.OverallCode, y.OverallCode, xAgain.OverallCode });
        Assert.Equal(Code.Ok, elsewhere.OverallCode);
        Assert.Null(elsewhere.Statuses[0].CurrentLimit);
    }

    [Fact]
    public async Task NestedRulesMatchOnlyTheWholeDescriptor()
    {
        var domain = RlsSilo.NewDomain("nested");
        await silo.PutDomainAsync(domain, """
            [ { "key": "tenant", "value": "acme", "descriptors": [ { "key": "user", "rate_limit": { "unit": "minute", "requests_per_unit": 1 } } ] } ]
            """);

        var first = await AskAsync(For(domain, Descriptor(("tenant", "acme"), ("user", "u1"))));
        var second = await AskAsync(For(domain, Descriptor(("tenant", "acme"), ("user", "u1"))));
        var tenantOnly = await AskAsync(For(domain, Descriptor(("tenant", "acme"))));
        var otherTenant = await AskAsync(For(domain, Descriptor(("tenant", "other"), ("user", "u1"))));
        var longer = await AskAsync(For(domain, Descriptor(("tenant", "acme"), ("user", "u1"), ("path", "/"))));

        Assert.Equal(Code.Ok, first.OverallCode);
        Assert.Equal(0u, first.Statuses[0].LimitRemaining);
        Assert.Equal(Code.OverLimit, second.OverallCode);
        Assert.Null(tenantOnly.Statuses[0].CurrentLimit);
        Assert.Null(otherTenant.Statuses[0].CurrentLimit);
        Assert.Null(longer.Statuses[0].CurrentLimit);
    }

    [Fact]
    public async Task TheMostSpecificRuleWinsExactThenWildcardThenBareKey()
    {
        var domain = RlsSilo.NewDomain("specific");
        await silo.PutDomainAsync(domain, """
            [ { "key": "k", "value": "vip", "rate_limit": { "unit": "minute", "requests_per_unit": 7 } },
              { "key": "k", "value": "v*", "rate_limit": { "unit": "minute", "requests_per_unit": 5 } },
              { "key": "k", "rate_limit": { "unit": "minute", "requests_per_unit": 3 } } ]
            """);

        var exact = await AskAsync(For(domain, Descriptor(("k", "vip"))));
        var wildcard = await AskAsync(For(domain, Descriptor(("k", "value"))));
        var bare = await AskAsync(For(domain, Descriptor(("k", "other"))));

        Assert.Equal(7u, exact.Statuses[0].CurrentLimit.RequestsPerUnit);
        Assert.Equal(6u, exact.Statuses[0].LimitRemaining);
        Assert.Equal(5u, wildcard.Statuses[0].CurrentLimit.RequestsPerUnit);
        Assert.Equal(3u, bare.Statuses[0].CurrentLimit.RequestsPerUnit);
    }

    [Fact]
    public async Task ARequestsLimitOverrideReplacesTheConfiguredLimit()
    {
        var domain = RlsSilo.NewDomain("override");
        await silo.PutDomainAsync(domain, """[ { "key": "api_key", "rate_limit": { "unit": "minute", "requests_per_unit": 100 } } ]""");
        var descriptor = Descriptor(("api_key", "k1"));
        descriptor.Limit = new RateLimitDescriptor.Types.RateLimitOverride { RequestsPerUnit = 1, Unit = (int)Unit.Second };

        var first = await AskAsync(For(domain, descriptor));
        var second = await AskAsync(For(domain, descriptor));
        var configured = await AskAsync(For(domain, Descriptor(("api_key", "k1"))));

        Assert.Equal(Code.Ok, first.OverallCode);
        Assert.Equal(1u, first.Statuses[0].CurrentLimit.RequestsPerUnit);
        Assert.Equal(Unit.Second, first.Statuses[0].CurrentLimit.Unit);
        Assert.Equal(Code.OverLimit, second.OverallCode);

        // The override is counted apart from the configured limit, which is untouched.
        Assert.Equal(Code.Ok, configured.OverallCode);
        Assert.Equal(99u, configured.Statuses[0].LimitRemaining);
    }

    [Fact]
    public async Task HitsAddendCountsAndZeroChecksWithoutConsuming()
    {
        var domain = RlsSilo.NewDomain("hits");
        await silo.PutDomainAsync(domain, """[ { "key": "k", "rate_limit": { "unit": "minute", "requests_per_unit": 5 } } ]""");

        var three = For(domain, Descriptor(("k", "a")));
        three.HitsAddend = 3;
        var afterThree = await AskAsync(three);

        var peek = Descriptor(("k", "a"));
        peek.HitsAddend = 0;
        var afterPeek = await AskAsync(For(domain, peek));
        var afterPeekAgain = await AskAsync(For(domain, peek));

        var tooMany = Descriptor(("k", "a"));
        tooMany.HitsAddend = 3;
        var afterTooMany = await AskAsync(For(domain, tooMany));

        // A request hits_addend of 0 means 1, as Envoy sends it.
        var defaultHits = await AskAsync(For(domain, Descriptor(("k", "a"))));

        Assert.Equal(2u, afterThree.Statuses[0].LimitRemaining);
        Assert.Equal(Code.Ok, afterPeek.OverallCode);
        Assert.Equal(2u, afterPeek.Statuses[0].LimitRemaining);
        Assert.Equal(2u, afterPeekAgain.Statuses[0].LimitRemaining);
        Assert.Equal(Code.OverLimit, afterTooMany.OverallCode);
        Assert.Equal(Code.Ok, defaultHits.OverallCode);
        Assert.Equal(1u, defaultHits.Statuses[0].LimitRemaining);
    }

    [Fact]
    public async Task AShadowRuleIsCountedButNeverDenies()
    {
        var domain = RlsSilo.NewDomain("shadow");
        await silo.PutDomainAsync(domain, """[ { "key": "k", "shadow_mode": true, "rate_limit": { "unit": "minute", "requests_per_unit": 1, "name": "shadowed" } } ]""");
        var request = For(domain, Descriptor(("k", "a")));

        var first = await AskAsync(request);
        var second = await AskAsync(request);
        var third = await AskAsync(request);

        Assert.Equal([Code.Ok, Code.Ok, Code.Ok], new[] { first.OverallCode, second.OverallCode, third.OverallCode });
        Assert.Equal([Code.Ok, Code.Ok, Code.Ok], new[] { first.Statuses[0].Code, second.Statuses[0].Code, third.Statuses[0].Code });
        Assert.Equal([0u, 0u, 0u], new[] { first.Statuses[0].LimitRemaining, second.Statuses[0].LimitRemaining, third.Statuses[0].LimitRemaining });
        Assert.Equal("shadowed", third.Statuses[0].CurrentLimit.Name);

        var metrics = await silo.Http.GetStringAsync("/metrics", TestContext.Current.CancellationToken);
        // The second and third hits were over the limit and let through: counted per rule, never per value.
        var line = metrics.Split('\n').Single(l => l.StartsWith("quota_rls_shadow_mode_total{", StringComparison.Ordinal) && l.Contains($"domain=\"{domain}\"", StringComparison.Ordinal));
        Assert.Contains("rule=\"shadowed\"", line, StringComparison.Ordinal);
        Assert.Equal("2", line[(line.IndexOf('}', StringComparison.Ordinal) + 2)..].Split(' ')[0]);
        var hits = metrics.Split('\n').Single(l => l.StartsWith("quota_rls_hits_total{", StringComparison.Ordinal) && l.Contains($"domain=\"{domain}\"", StringComparison.Ordinal));
        Assert.Equal("3", hits[(hits.IndexOf('}', StringComparison.Ordinal) + 2)..].Split(' ')[0]);
    }

    [Fact]
    public async Task ARequestOverOneDescriptorConsumesNothingFromTheOthers()
    {
        var domain = RlsSilo.NewDomain("all");
        await silo.PutDomainAsync(domain, """
            [ { "key": "wide", "rate_limit": { "unit": "minute", "requests_per_unit": 5 } },
              { "key": "narrow", "rate_limit": { "unit": "minute", "requests_per_unit": 1 } } ]
            """);
        var both = For(domain, Descriptor(("wide", "w")), Descriptor(("narrow", "n")));

        var admitted = await AskAsync(both);
        var refused = await AskAsync(both);
        var wideAlone = await AskAsync(For(domain, Descriptor(("wide", "w"))));

        Assert.Equal(Code.Ok, admitted.OverallCode);
        Assert.Equal([4u, 0u], admitted.Statuses.Select(s => s.LimitRemaining));
        Assert.Equal(Code.OverLimit, refused.OverallCode);
        Assert.Equal([Code.Ok, Code.OverLimit], refused.Statuses.Select(s => s.Code));
        Assert.Equal(4u, refused.Statuses[0].LimitRemaining);

        // Exactly one taken from "wide" by the admitted request and none by the refused one.
        Assert.Equal(3u, wideAlone.Statuses[0].LimitRemaining);
    }

    [Fact]
    public async Task DescriptorsWithDifferentHitsAreStillAllOrNothing()
    {
        var domain = RlsSilo.NewDomain("mixed");
        await silo.PutDomainAsync(domain, """
            [ { "key": "wide", "rate_limit": { "unit": "minute", "requests_per_unit": 10 } },
              { "key": "narrow", "rate_limit": { "unit": "minute", "requests_per_unit": 1 } } ]
            """);
        var wide = Descriptor(("wide", "w"));
        wide.HitsAddend = 4;
        var both = For(domain, wide, Descriptor(("narrow", "n")));

        var admitted = await AskAsync(both);
        var refused = await AskAsync(both);
        var wideAlone = await AskAsync(For(domain, Descriptor(("wide", "w"))));

        Assert.Equal(Code.Ok, admitted.OverallCode);
        Assert.Equal([6u, 0u], admitted.Statuses.Select(s => s.LimitRemaining));
        Assert.Equal(Code.OverLimit, refused.OverallCode);
        Assert.Equal(6u, refused.Statuses[0].LimitRemaining);
        Assert.Equal(5u, wideAlone.Statuses[0].LimitRemaining);
    }

    [Fact]
    public async Task ReplacesDropsTheNamedLimit()
    {
        var domain = RlsSilo.NewDomain("replaces");
        await silo.PutDomainAsync(domain, """
            [ { "key": "general", "rate_limit": { "unit": "minute", "requests_per_unit": 1, "name": "general" } },
              { "key": "vip", "rate_limit": { "unit": "minute", "requests_per_unit": 3, "name": "vip" }, "replaces": [ { "name": "general" } ] } ]
            """);
        var request = For(domain, Descriptor(("general", "g")), Descriptor(("vip", "v")));

        var first = await AskAsync(request);
        var second = await AskAsync(request);

        Assert.Equal(Code.Ok, second.OverallCode);
        Assert.Null(second.Statuses[0].CurrentLimit);
        Assert.Equal(1u, second.Statuses[1].LimitRemaining);
        Assert.Equal(Code.Ok, first.OverallCode);
    }

    [Fact]
    public async Task ResponseHeadersCarryTheIetfFieldsAndRetryAfter()
    {
        var domain = RlsSilo.NewDomain("headers");
        await silo.PutDomainAsync(domain, """[ { "key": "k", "rate_limit": { "unit": "minute", "requests_per_unit": 2, "name": "per-k" } } ]""");
        var request = For(domain, Descriptor(("k", "a")));

        var admitted = await AskAsync(request);
        await AskAsync(request);
        var refused = await AskAsync(request);

        var headers = admitted.ResponseHeadersToAdd.ToDictionary(h => h.Key, h => h.Value);
        Assert.Equal($"\"{domain}:per-k/per-k\";q=2;w=60", headers["RateLimit-Policy"]);
        Assert.StartsWith($"\"{domain}:per-k/per-k\";r=1;t=", headers["RateLimit"], StringComparison.Ordinal);
        Assert.False(headers.ContainsKey("Retry-After"));

        var denied = refused.ResponseHeadersToAdd.ToDictionary(h => h.Key, h => h.Value);
        Assert.StartsWith($"\"{domain}:per-k/per-k\";r=0;t=", denied["RateLimit"], StringComparison.Ordinal);
        Assert.InRange(int.Parse(denied["Retry-After"], System.Globalization.CultureInfo.InvariantCulture), 1, 60);
    }

    [Fact]
    public async Task AnUnknownDomainIsOkWithNoLimit()
    {
        var response = await AskAsync(For(RlsSilo.NewDomain("unknown"), Descriptor(("k", "a")), Descriptor(("j", "b"))));

        Assert.Equal(Code.Ok, response.OverallCode);
        Assert.Equal(2, response.Statuses.Count);
        Assert.All(response.Statuses, s => Assert.Equal(Code.Ok, s.Code));
        Assert.All(response.Statuses, s => Assert.Null(s.CurrentLimit));
        Assert.Empty(response.ResponseHeadersToAdd);
    }

    [Theory]
    [InlineData("", "domain is empty")]
    [InlineData("no-descriptors", "descriptors is empty")]
    [InlineData("no-entries", "descriptors[0].entries is empty")]
    [InlineData("empty-key", "descriptors[0].entries[0].key is empty")]
    [InlineData("bad-override", "descriptors[0].limit.unit is 0")]
    [InlineData("too-many", "descriptors has 33 descriptors; at most 32")]
    [InlineData("too-deep", "descriptors[0].entries has 9 entries; at most 8")]
    public async Task MalformedRequestsAreInvalidArgumentSayingWhatToFix(string domain, string message)
    {
        var request = new RateLimitRequest { Domain = domain };
        switch (domain)
        {
            case "":
                request.Descriptors.Add(Descriptor(("k", "v")));
                break;
            case "no-entries":
                request.Descriptors.Add(new RateLimitDescriptor());
                break;
            case "empty-key":
                request.Descriptors.Add(Descriptor(("", "v")));
                break;
            case "too-many":
                request.Descriptors.AddRange(Enumerable.Range(0, 33).Select(i => Descriptor(("k", $"v{i}"))));
                break;
            case "too-deep":
                request.Descriptors.Add(Descriptor([.. Enumerable.Range(0, 9).Select(i => ($"k{i}", "v"))]));
                break;
            case "bad-override":
                var descriptor = Descriptor(("k", "v"));
                descriptor.Limit = new RateLimitDescriptor.Types.RateLimitOverride { RequestsPerUnit = 1 };
                request.Descriptors.Add(descriptor);
                break;
        }

        var error = await Assert.ThrowsAsync<RpcException>(() => AskAsync(request));

        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
        Assert.StartsWith(message, error.Status.Detail, StringComparison.Ordinal);
    }
}
