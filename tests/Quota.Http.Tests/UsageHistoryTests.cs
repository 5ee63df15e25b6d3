using System.Globalization;
using System.Net;
using Quota.Http.Tests.Infrastructure;
using static Quota.Http.Tests.Infrastructure.ConfiguredSilo;

namespace Quota.Http.Tests;

/// <summary>GET /v1/usage/{kind}/{id}?from=&amp;to=: decisions per subject per minute (in memory in the embedded default).</summary>
[Collection(ConfiguredHostCollection.Name)]
public sealed class UsageHistoryTests(ConfiguredSilo host) : HostTest(host)
{
    [Fact]
    public async Task History_counts_admitted_and_denied_decisions_and_their_permits()
    {
        var burst = NewBurst();
        var from = DateTimeOffset.UtcNow.AddMinutes(-1).ToString("O", CultureInfo.InvariantCulture);
        (await Api.Acquire(new { resources = new[] { burst }, cost = 2 })).Expect(HttpStatusCode.OK);
        (await Api.Acquire(new { resources = new[] { burst } })).Expect(HttpStatusCode.OK);
        (await Api.Acquire(new { resources = new[] { burst } })).Expect(HttpStatusCode.TooManyRequests);

        var body = (await Api.Send(HttpMethod.Get, $"/v1/usage/resource/{burst}?from={Uri.EscapeDataString(from)}")).Expect(HttpStatusCode.OK).Json;

        Assert.Equal($"resource:{burst}", body["subject"]!.GetValue<string>());
        Assert.Equal(2, body["allowed"]!.GetValue<long>());
        Assert.Equal(1, body["denied"]!.GetValue<long>());
        Assert.Equal(3, body["permits"]!.GetValue<long>());
        var minutes = body["minutes"]!.AsArray();
        Assert.InRange(minutes.Count, 1, 2);
        Assert.Equal(3, minutes.Sum(m => m!["permits"]!.GetValue<long>()));
    }

    [Fact]
    public async Task A_span_without_decisions_is_empty()
    {
        var body = (await Api.Send(HttpMethod.Get, $"/v1/usage/user/{Ids.New("nobody-")}?from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z")).Expect(HttpStatusCode.OK).Json;

        Assert.Equal(0, body["allowed"]!.GetValue<long>());
        Assert.Empty(body["minutes"]!.AsArray());
        Assert.Equal("2026-01-01T00:00:00+00:00", body["from"]!.GetValue<string>());
    }

    [Theory]
    [InlineData("from=yesterday", "from")]
    [InlineData("from=2026-01-01T00:00:00", "from")]
    [InlineData("to=2026-01-01T00:00:00Z", "from")]
    [InlineData("from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z", "to")]
    [InlineData("from=2026-01-01T00:00:00Z&to=2026-03-01T00:00:00Z", "to")]
    public async Task Bad_spans_are_refused_naming_the_field(string query, string field)
    {
        (await Api.Send(HttpMethod.Get, $"/v1/usage/user/alice?{query}")).ExpectProblem(HttpStatusCode.BadRequest, field);
    }
}
