using System.Net;
using System.Text;
using Quota.Abstractions;
using Quota.Http.Tests.Infrastructure;
using static Quota.Http.Tests.Infrastructure.ConfiguredSilo;

namespace Quota.Http.Tests;

/// <summary>Every bad input is an RFC 9457 problem (application/problem+json) naming the field at fault.</summary>
[Collection(ConfiguredHostCollection.Name)]
public sealed class ProblemDetailsTests(ConfiguredSilo host) : HostTest(host)
{
    [Theory]
    [InlineData("{\"user\":\"pd\"", "body")] // malformed JSON: unterminated object
    [InlineData("{\"user\" \"pd\"}", "body")] // malformed JSON: no colon
    [InlineData("{\"user\":\"pd\",}", "body")] // malformed JSON: trailing comma
    [InlineData("{\"user\":\"pd\"}}", "body")] // malformed JSON: trailing garbage
    [InlineData("{user:\"pd\"}", "body")] // malformed JSON: unquoted name
    [InlineData("not json", "body")]
    [InlineData("{\"user\":", "user")] // malformed JSON inside a value names that field
    [InlineData("{\"user\":\"pd\",\"cost\":}", "cost")] // malformed JSON inside a value names that field
    [InlineData("{\"user\":\"pd\",\"resources\":[\"a\",]}", "resources[1]")]
    [InlineData("", "body")] // empty body
    [InlineData("null", "body")]
    [InlineData("[]", "body")]
    [InlineData("{}", "user")] // no subject
    [InlineData("{\"resources\":[]}", "user")] // no subject
    [InlineData("{\"user\":\"pd\",\"cost\":-1}", "cost")] // negative cost
    [InlineData("{\"user\":\"pd\",\"cost\":\"x\"}", "cost")] // wrong type
    [InlineData("{\"user\":\"pd\",\"cost\":1.5}", "cost")] // wrong type
    [InlineData("{\"user\":\"pd\",\"cost\":true}", "cost")] // wrong type
    [InlineData("{\"user\":\"pd\",\"cost\":{}}", "cost")] // wrong type
    [InlineData("{\"user\":\"pd\",\"priority\":\"urgent\"}", "priority")] // unknown priority
    [InlineData("{\"user\":\"pd\",\"priority\":\"1\"}", "priority")] // numbers are not priorities
    [InlineData("{\"user\":\"pd\",\"priority\":2}", "priority")] // wrong type
    [InlineData("{\"user\":\"pd\",\"maxWaitMs\":5001}", "maxWaitMs")] // above Quota:Decisions:MaxWait
    [InlineData("{\"user\":\"pd\",\"maxWaitMs\":-1}", "maxWaitMs")]
    [InlineData("{\"user\":\"pd\",\"reserve\":\"yes\"}", "reserve")] // wrong type
    [InlineData("{\"user\":\"pd\",\"bogus\":1}", "bogus")] // unknown field
    [InlineData("{\"user\":\"pd\",\"resource\":\"telegram\"}", "resource")] // unknown field (singular)
    [InlineData("{\"user\":42}", "user")] // wrong type
    [InlineData("{\"resources\":\"telegram\"}", "resources")] // wrong type
    [InlineData("{\"user\":\"\"}", "user")] // empty name
    [InlineData("{\"user\":\"a\\u0001b\"}", "user")] // control character
    [InlineData("{\"user\":\"a\\nb\"}", "user")] // control character
    [InlineData("{\"apiKey\":\"k\\u007f\"}", "apiKey")] // control character (DEL)
    [InlineData("{\"resources\":[\"telegram\",\"bad\\u0007\"]}", "resources[1]")] // control character
    [InlineData("{\"resources\":[null]}", "resources[0]")]
    [InlineData("{\"resources\":[\"\"]}", "resources[0]")]
    public async Task Acquire_rejects_bad_input_with_a_400_problem_naming_the_field(string rawBody, string field)
    {
        var reply = await Api.Post("/v1/acquire", rawBody);

        reply.ExpectProblem(HttpStatusCode.BadRequest, field);
        Assert.Null(reply.Header("RateLimit"));
        Assert.Null(reply.Header("Retry-After"));
    }

    [Fact]
    public async Task Names_over_256_characters_are_rejected_in_every_name_field()
    {
        var tooLong = new string('n', RequestRules.MaxNameLength + 1);

        var user = (await Api.Acquire(new { user = tooLong })).ExpectProblem(HttpStatusCode.BadRequest, "user");
        Assert.Equal($"user: is {RequestRules.MaxNameLength + 1} characters long; at most {RequestRules.MaxNameLength} are allowed.", user["detail"]!.GetValue<string>());
        (await Api.Acquire(new { apiKey = tooLong })).ExpectProblem(HttpStatusCode.BadRequest, "apiKey");
        (await Api.Acquire(new { resources = new[] { NewBurst(), tooLong } })).ExpectProblem(HttpStatusCode.BadRequest, "resources[1]");
    }

    [Fact]
    public async Task More_than_32_resources_are_rejected()
    {
        var resources = Enumerable.Range(0, RequestRules.MaxResources + 1).Select(_ => NewBurst()).ToArray();

        (await Api.Acquire(new { resources })).ExpectProblem(HttpStatusCode.BadRequest, "resources");
    }

    [Fact]
    public async Task Every_problem_is_listed_and_the_first_is_the_field()
    {
        var reply = await Api.Post("/v1/acquire", "{\"user\":\"\",\"cost\":-2,\"maxWaitMs\":-1,\"priority\":\"soon\"}");

        var json = reply.ExpectProblem(HttpStatusCode.BadRequest, "priority");
        Assert.Equal(["priority", "user", "cost", "maxWaitMs"], json["errors"]!.AsArray().Select(e => e!["field"]!.GetValue<string>()));
    }

    [Fact]
    public async Task Cost_above_what_a_policy_can_ever_admit_is_a_400_on_cost_naming_the_policy()
    {
        var burst = NewBurst();

        var reply = await Api.Acquire(new { resources = new[] { burst }, cost = BurstLimit + 1 });

        var json = reply.ExpectProblem(HttpStatusCode.BadRequest, "cost");
        Assert.Equal($"resource:{burst}/{BurstPolicy}", json["limitedBy"]!.GetValue<string>());
        Assert.Equal($"\"resource:{burst}/{BurstPolicy}\";q=3;w=3600", reply.Header("RateLimit-Policy"));
        Assert.Equal($"\"resource:{burst}/{BurstPolicy}\";r=3;t=0", reply.Header("RateLimit"));
        Assert.Null(reply.Header("Retry-After"));
        Assert.Equal(BurstLimit, await Api.Remaining("resource", burst, BurstPolicy));
    }

    [Fact]
    public async Task Cost_above_the_user_limit_is_a_400_on_cost()
    {
        var user = Ids.User();

        var json = (await Api.Acquire(new { user, cost = 101 })).ExpectProblem(HttpStatusCode.BadRequest, "cost");

        Assert.Equal($"user:{user}/per-minute", json["limitedBy"]!.GetValue<string>());
        Assert.Equal(100, await Api.Remaining("user", user, "per-minute"));
    }

    [Fact]
    public async Task Body_over_the_limit_with_a_content_length_is_rejected_before_reading()
    {
        var body = Bodies.Padded(Ids.User(), MaxBodyBytes + 1);

        var json = (await Api.Post("/v1/acquire", body)).ExpectProblem(HttpStatusCode.BadRequest, "body");

        Assert.Contains($"{MaxBodyBytes + 1} bytes", json["detail"]!.GetValue<string>(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Body_over_the_limit_without_a_content_length_is_rejected()
    {
        var body = Bodies.Padded(Ids.User(), MaxBodyBytes + 1);

        var json = (await Api.Post("/v1/acquire", new ChunkedJsonContent(body))).ExpectProblem(HttpStatusCode.BadRequest, "body");

        Assert.Contains($"larger than {MaxBodyBytes} bytes", json["detail"]!.GetValue<string>(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Body_of_exactly_the_limit_is_accepted_with_or_without_a_content_length()
    {
        var user = Ids.User();

        (await Api.Post("/v1/acquire", Bodies.Padded(user, MaxBodyBytes))).Expect(HttpStatusCode.OK);
        (await Api.Post("/v1/acquire", new ChunkedJsonContent(Bodies.Padded(user, MaxBodyBytes)))).Expect(HttpStatusCode.OK);

        Assert.Equal(98, await Api.Remaining("user", user, "per-minute"));
    }

    [Fact]
    public async Task Oversized_settle_and_release_bodies_are_rejected()
    {
        var padding = new string(' ', MaxBodyBytes);

        (await Api.Post("/v1/settle", "{\"leaseId\":\"x\",\"actualCost\":1}" + padding)).ExpectProblem(HttpStatusCode.BadRequest, "body");
        (await Api.Post("/v1/release", "{\"leaseId\":\"x\"}" + padding)).ExpectProblem(HttpStatusCode.BadRequest, "body");
    }

    [Fact]
    public async Task Unknown_resource_is_a_404_problem_naming_its_position()
    {
        var missing = Ids.New("no-such-resource-");

        var first = (await Api.Acquire(new { resources = new[] { missing } })).ExpectProblem(HttpStatusCode.NotFound, "resources[0]");
        Assert.Contains(missing, first["detail"]!.GetValue<string>(), StringComparison.Ordinal);

        var burst = NewBurst();
        (await Api.Acquire(new { resources = new[] { burst, missing } })).ExpectProblem(HttpStatusCode.NotFound, "resources[1]");

        // Nothing was taken from the known resource named alongside.
        Assert.Equal(BurstLimit, await Api.Remaining("resource", burst, BurstPolicy));
    }

    [Theory]
    [InlineData("tenant")]
    [InlineData("upstream")]
    public async Task Tenants_and_upstreams_are_unknown_subjects(string field)
    {
        var reply = await Api.Post("/v1/acquire", $"{{\"user\":\"{Ids.User()}\",\"{field}\":\"acme\"}}");

        reply.ExpectProblem(HttpStatusCode.NotFound, field);
    }

    [Theory]
    [InlineData("/v1/settle", "", "body")]
    [InlineData("/v1/settle", "{", "body")]
    [InlineData("/v1/settle", "{}", "leaseId")]
    [InlineData("/v1/settle", "{\"actualCost\":1}", "leaseId")]
    [InlineData("/v1/settle", "{\"leaseId\":\"\",\"actualCost\":1}", "leaseId")]
    [InlineData("/v1/settle", "{\"leaseId\":\"not-a-lease\"}", "actualCost")] // missing actualCost
    [InlineData("/v1/settle", "{\"leaseId\":\"not-a-lease\",\"actualCost\":-1}", "actualCost")]
    [InlineData("/v1/settle", "{\"leaseId\":\"not-a-lease\",\"actualCost\":\"one\"}", "actualCost")] // wrong type
    [InlineData("/v1/settle", "{\"leaseId\":\"not-a-lease\",\"actualCost\":[1]}", "actualCost")] // wrong type
    [InlineData("/v1/settle", "{\"leaseId\":\"not-a-lease\",\"actualCost\":1}", "leaseId")] // malformed lease id
    [InlineData("/v1/settle", "{\"leaseId\":\"0123456789abcdef0123456789abcdef.!!!\",\"actualCost\":1}", "leaseId")] // malformed lease id
    [InlineData("/v1/settle", "{\"leaseId\":\"x\",\"actualCost\":1,\"cost\":1}", "cost")] // unknown field
    [InlineData("/v1/release", "", "body")]
    [InlineData("/v1/release", "[1]", "body")]
    [InlineData("/v1/release", "{}", "leaseId")]
    [InlineData("/v1/release", "{\"leaseId\":7}", "leaseId")] // wrong type
    [InlineData("/v1/release", "{\"leaseId\":\"not-a-lease\"}", "leaseId")] // malformed lease id
    [InlineData("/v1/release", "{\"leaseId\":\"x\",\"actualCost\":1}", "actualCost")] // unknown field
    public async Task Settle_and_release_reject_bad_input_with_a_400_problem_naming_the_field(string path, string rawBody, string field)
    {
        (await Api.Post(path, rawBody)).ExpectProblem(HttpStatusCode.BadRequest, field);
    }

    /// <summary>A JSON body of unknown length: sent with Transfer-Encoding: chunked, no Content-Length.</summary>
    private sealed class ChunkedJsonContent : HttpContent
    {
        private readonly byte[] _bytes;

        public ChunkedJsonContent(string json)
        {
            _bytes = Encoding.UTF8.GetBytes(json);
            Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
        }

        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context)
        {
            // Several writes, so the body really arrives in pieces.
            for (var offset = 0; offset < _bytes.Length; offset += 500)
            {
                await stream.WriteAsync(_bytes.AsMemory(offset, Math.Min(500, _bytes.Length - offset)));
                await stream.FlushAsync();
            }
        }

        protected override bool TryComputeLength(out long length)
        {
            length = 0;
            return false;
        }
    }
}
