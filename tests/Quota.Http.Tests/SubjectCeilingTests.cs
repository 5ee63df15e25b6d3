using System.Net;
using System.Text.Json.Nodes;
using Quota.Http.Tests.Infrastructure;

namespace Quota.Http.Tests;

/// <summary>The shipped host with a ceiling of <see cref="Ceiling"/> active subjects (<c>Quota:Limits:MaxActiveSubjects</c>).</summary>
public sealed class CeilingSilo : SiloFixture
{
    public const int Ceiling = 20;

    protected override IEnumerable<string> Settings => [$"--Quota:Limits:MaxActiveSubjects={Ceiling}"];
}

[CollectionDefinition(Name)]
public sealed class CeilingHostCollection : ICollectionFixture<CeilingSilo>
{
    public const string Name = "subject ceiling host";
}

/// <summary>
/// Past its ceiling of active subjects the silo answers a request naming a new subject <c>503</c> with
/// <c>Retry-After</c> and the <c>temporary-reduced-capacity</c> problem type, while subjects already active decide.
/// </summary>
[Collection(CeilingHostCollection.Name)]
public sealed class SubjectCeilingTests(CeilingSilo host) : HostTest(host)
{
    [Fact]
    public async Task New_subjects_past_the_ceiling_are_answered_503_with_retry_after_while_active_ones_decide()
    {
        // Users that take a permit stay active: exactly the ceiling of them is admitted, the next one is shed.
        var admitted = new List<string>();
        Reply? shed = null;
        for (var i = 0; i <= CeilingSilo.Ceiling && shed is null; i++)
        {
            var user = Ids.User();
            var reply = await Api.Acquire(new { user });
            if (reply.Status == HttpStatusCode.OK)
            {
                admitted.Add(user);
            }
            else
            {
                shed = reply;
            }
        }

        Assert.Equal(CeilingSilo.Ceiling, admitted.Count);
        var problem = ExpectShed(shed!);
        Assert.StartsWith("user: user:u-", problem["detail"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Contains("Quota:Limits:MaxActiveSubjects", problem["detail"]!.GetValue<string>(), StringComparison.Ordinal);

        // An active subject still decides, alone or with others; a new one is shed on every front door.
        var existing = (await Api.Acquire(new { user = admitted[0] })).Expect(HttpStatusCode.OK).Json;
        Assert.Equal(98, existing["remaining"]!.GetValue<long>());
        ExpectShed(await Api.Acquire(new { user = admitted[1], resources = new[] { "telegram" } }));
        ExpectShed(await Api.Acquire(new { apiKey = Ids.New("key-"), priority = "critical" }));
        ExpectShed(await Api.Usage("user", Ids.User()));

        // The request refused with the shed resource consumed nothing on the active user.
        Assert.Equal(99, await Api.Remaining("user", admitted[1], "per-minute"));
    }

    private static JsonObject ExpectShed(Reply reply)
    {
        reply.Expect(HttpStatusCode.ServiceUnavailable);
        Assert.Equal("application/problem+json", reply.MediaType);
        Assert.Equal("1", reply.Header("Retry-After"));
        var problem = reply.Json;
        Assert.Equal("https://iana.org/assignments/http-problem-types#temporary-reduced-capacity", problem["type"]!.GetValue<string>());
        Assert.Equal(503, problem["status"]!.GetValue<int>());
        Assert.Equal(1000, problem["retryAfterMs"]!.GetValue<long>());
        return problem;
    }
}
