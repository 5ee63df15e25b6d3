using System.Net;
using System.Text.Json.Nodes;
using Quota.Http.Tests.Infrastructure;

namespace Quota.Http.Tests.Queues;

/// <summary>Queues over HTTP against a real silo: definitions, paced hand-out, ack, nack, dead letters, bad input, the planner.</summary>
[Collection(AdminHostCollection.Name)]
public sealed class QueueTests(AdminSilo host) : HostTest(host)
{
    /// <summary>A fresh resource limited to <paramref name="perHour"/> per hour (no window turns during a test) and a queue dispatching on it.</summary>
    private async Task<(string Queue, string Resource)> QueueAsync(long perHour, object? extra = null)
    {
        var resource = Ids.New("q-res-");
        (await Api.PutResource(resource, Policies.FixedWindow("per-hour", perHour, "01:00:00"))).Expect(HttpStatusCode.OK);
        var queue = Ids.New("q-");
        var body = JsonNode.Parse(System.Text.Json.JsonSerializer.Serialize(extra ?? new { }))!.AsObject();
        body["dispatch"] = new JsonObject { ["resources"] = new JsonArray(resource) };
        (await Api.Put($"/v1/admin/queues/{queue}", body.ToJsonString())).Expect(HttpStatusCode.OK);
        return (queue, resource);
    }

    private Task<Reply> Enqueue(string queue, object body) => Api.PostJson($"/v1/queues/{queue}/items", body);

    private Task<Reply> Lease(string queue, int max) => Api.PostJson($"/v1/queues/{queue}/lease", new { worker = "w1", max });

    [Fact]
    public async Task A_definition_round_trips_with_its_defaults_and_is_removed()
    {
        var queue = Ids.New("q-");
        var put = (await Api.Put($"/v1/admin/queues/{queue}", """{"dispatch":{"resources":["telegram","telegram:chat:{chat}"]},"maxAttempts":3,"backoff":{"base":"00:00:02"}}""")).Expect(HttpStatusCode.OK);

        Assert.Equal(
            $$"""{"name":"{{queue}}","dispatch":{"user":null,"tenant":null,"upstream":null,"resources":["telegram","telegram:chat:{chat}"],"cost":1},"maxAttempts":3,"backoff":{"base":"00:00:02","max":"00:01:00"},"visibilityTimeout":"00:00:30","maxPayloadBytes":65536,"maxItems":10000,"processingTime":"00:00:01","maxWorkers":10}""",
            put.Body);
        Assert.Equal(put.Body, (await Api.Get($"/v1/admin/queues/{queue}")).Expect(HttpStatusCode.OK).Body);

        (await Api.Delete($"/v1/admin/queues/{queue}")).Expect(HttpStatusCode.NoContent);
        (await Api.Get($"/v1/admin/queues/{queue}")).ExpectProblem(HttpStatusCode.NotFound, "name");
        (await Api.Delete($"/v1/admin/queues/{queue}")).ExpectProblem(HttpStatusCode.NotFound, "name");
    }

    [Fact]
    public async Task Defined_queues_are_listed_by_name_with_their_statistics_a_page_at_a_time()
    {
        // Names under one fresh prefix: no other test's queue sorts between them, so the pages are exact.
        var prefix = Ids.New("ql-") + "-";
        var resource = Ids.New("q-res-");
        (await Api.PutResource(resource, Policies.FixedWindow("per-hour", 100, "01:00:00"))).Expect(HttpStatusCode.OK);
        var (a, b, c) = (prefix + "a", prefix + "b", prefix + "c");
        foreach (var queue in new[] { c, a, b })
        {
            (await Api.PutJson($"/v1/admin/queues/{queue}", new { dispatch = new { resources = new[] { resource } }, maxAttempts = 1 })).Expect(HttpStatusCode.OK);
        }

        (await Enqueue(b, new[] { new { id = "h", priority = "high" }, new { id = "n1", priority = "normal" }, new { id = "n2", priority = "normal" }, new { id = "n3", priority = "normal" } })).Expect(HttpStatusCode.OK);
        var leased = (await Lease(b, 2)).Expect(HttpStatusCode.OK).Json["items"]!.AsArray();
        (await Api.PostJson($"/v1/queues/{b}/nack", new { leaseId = leased[1]!["leaseId"]!.GetValue<string>(), error = "boom" })).Expect(HttpStatusCode.OK);

        var first = (await Api.Get($"/v1/queues?after={prefix}&limit=2")).Expect(HttpStatusCode.OK).Json;
        var queues = first["queues"]!.AsArray();
        Assert.Equal([a, b], queues.Select(q => q!["name"]!.GetValue<string>()));
        Assert.Equal(b, first["next"]!.GetValue<string>());
        var listed = queues[1]!;
        Assert.Equal((0, 2, 1, 1, 0), (listed["depth"]!["high"]!.GetValue<int>(), listed["depth"]!["normal"]!.GetValue<int>(), listed["inFlight"]!.GetValue<int>(), listed["dead"]!.GetValue<int>(), listed["retrying"]!.GetValue<int>()));
        Assert.Equal(1, listed["desiredWorkers"]!.GetValue<int>());

        // Each entry is what GET /v1/queues/{name} answers.
        Assert.Equal((await Api.Get($"/v1/queues/{a}")).Expect(HttpStatusCode.OK).Json.ToJsonString(), queues[0]!.ToJsonString());

        var second = (await Api.Get($"/v1/queues?after={b}&limit=1")).Expect(HttpStatusCode.OK).Json;
        Assert.Equal(c, second["queues"]![0]!["name"]!.GetValue<string>());

        // A removed queue is no longer listed.
        (await Api.Delete($"/v1/admin/queues/{c}")).Expect(HttpStatusCode.NoContent);
        var after = (await Api.Get($"/v1/queues?after={prefix}&limit=3")).Expect(HttpStatusCode.OK).Json["queues"]!.AsArray();
        Assert.DoesNotContain(c, after.Select(q => q!["name"]!.GetValue<string>()));
        Assert.Equal([a, b], after.Take(2).Select(q => q!["name"]!.GetValue<string>()));
    }

    [Fact]
    public async Task A_bad_page_of_the_queue_list_is_refused_naming_the_parameter()
    {
        (await Api.Get("/v1/queues?limit=0")).ExpectProblem(HttpStatusCode.BadRequest, "limit");
        (await Api.Get("/v1/queues?limit=101")).ExpectProblem(HttpStatusCode.BadRequest, "limit");
        (await Api.Get("/v1/queues?limit=ten")).ExpectProblem(HttpStatusCode.BadRequest, "limit");
        (await Api.Get("/v1/queues?after=a%01b")).ExpectProblem(HttpStatusCode.BadRequest, "after");
    }

    [Fact]
    public async Task A_bad_definition_is_refused_naming_every_field()
    {
        var queue = Ids.New("q-");
        var problem = (await Api.Put($"/v1/admin/queues/{queue}", """{"dispatch":{"resources":["chat:{chat"]},"maxAttempts":0,"backoff":{"base":"00:01:00","max":"00:00:01"},"visibilityTimeout":"00:00:00","maxPayloadBytes":99999999}""")).ExpectProblem(HttpStatusCode.BadRequest, "dispatch.resources[0]");

        Assert.Equal(
            ["dispatch.resources[0]", "maxAttempts", "backoff.max", "visibilityTimeout", "maxPayloadBytes"],
            problem["errors"]!.AsArray().Select(e => e!["field"]!.GetValue<string>()));
        (await Api.Put($"/v1/admin/queues/{queue}", """{"maxAttempts":3}""")).ExpectProblem(HttpStatusCode.BadRequest, "dispatch");
        (await Api.Put($"/v1/admin/queues/{queue}", """{"dispatch":{"apiKey":"secret-key-0123456789"}}""")).ExpectProblem(HttpStatusCode.BadRequest, "dispatch.apiKey");
        (await Api.Get($"/v1/admin/queues/{queue}")).ExpectProblem(HttpStatusCode.NotFound, "name");
    }

    [Fact]
    public async Task A_queue_that_could_hold_more_than_a_gibibyte_of_payloads_is_refused()
    {
        var queue = Ids.New("q-");

        var problem = (await Api.Put($"/v1/admin/queues/{queue}", """{"dispatch":{"resources":["telegram"]},"maxItems":1000000,"maxPayloadBytes":1048576}""")).ExpectProblem(HttpStatusCode.BadRequest, "maxItems");

        Assert.Contains("1048576000000 bytes", problem["detail"]!.GetValue<string>(), StringComparison.Ordinal);
        (await Api.Get($"/v1/admin/queues/{queue}")).ExpectProblem(HttpStatusCode.NotFound, "name");
        (await Api.Put($"/v1/admin/queues/{queue}", """{"dispatch":{"resources":["telegram"]},"maxItems":1024,"maxPayloadBytes":1048576}""")).Expect(HttpStatusCode.OK);
    }

    [Fact]
    public async Task Thirty_items_under_twenty_an_hour_hand_out_exactly_twenty_across_workers()
    {
        var (queue, resource) = await QueueAsync(20);
        var enqueued = (await Enqueue(queue, Enumerable.Range(0, 30).Select(i => new { id = $"m{i:00}", payload = new { n = i } }))).Expect(HttpStatusCode.OK).Json;
        Assert.Equal(30, enqueued["created"]!.GetValue<int>());

        var first = (await Lease(queue, 15)).Expect(HttpStatusCode.OK).Json["items"]!.AsArray();
        var second = (await Lease(queue, 15)).Expect(HttpStatusCode.OK).Json;
        var third = (await Lease(queue, 15)).Expect(HttpStatusCode.OK).Json;

        Assert.Equal(15, first.Count);
        Assert.Equal(5, second["items"]!.AsArray().Count);
        Assert.Empty(third["items"]!.AsArray());
        Assert.InRange(third["retryAfterMs"]!.GetValue<long>(), 1, 3_600_000);
        Assert.Equal(0, await Api.Remaining("resource", resource, "per-hour"));
        Assert.Equal("m00", first[0]!["id"]!.GetValue<string>());
        Assert.Equal(0, first[0]!["payload"]!["n"]!.GetValue<int>());
        Assert.Equal(1, first[0]!["attempt"]!.GetValue<int>());

        var stats = (await Api.Get($"/v1/queues/{queue}")).Expect(HttpStatusCode.OK).Json;
        Assert.Equal(10, stats["depth"]!["normal"]!.GetValue<int>());
        Assert.Equal(20, stats["inFlight"]!.GetValue<int>());
        Assert.Equal(20, stats["admittedPerMinute"]!.GetValue<int>());
        Assert.Equal(20.0 / 60, stats["allowedPerMinute"]!.GetValue<double>(), 9);
    }

    [Fact]
    public async Task Ack_removes_an_item_and_a_second_ack_is_a_404_on_leaseId()
    {
        var (queue, _) = await QueueAsync(10);
        (await Enqueue(queue, new { id = "one", payload = "x" })).Expect(HttpStatusCode.OK);
        var leaseId = (await Lease(queue, 1)).Expect(HttpStatusCode.OK).Json["items"]![0]!["leaseId"]!.GetValue<string>();

        var acked = (await Api.PostJson($"/v1/queues/{queue}/ack", new { leaseId })).Expect(HttpStatusCode.OK).Json;
        Assert.True(acked["acked"]!.GetValue<bool>());
        (await Api.PostJson($"/v1/queues/{queue}/ack", new { leaseId })).ExpectProblem(HttpStatusCode.NotFound, "leaseId");
        (await Api.PostJson($"/v1/queues/{queue}/nack", new { leaseId, error = "late" })).ExpectProblem(HttpStatusCode.NotFound, "leaseId");
        var stats = (await Api.Get($"/v1/queues/{queue}")).Expect(HttpStatusCode.OK).Json;
        Assert.Equal((0, 1), (stats["inFlight"]!.GetValue<int>(), stats["acked"]!.GetValue<int>()));
    }

    [Fact]
    public async Task The_last_failed_attempt_is_dead_lettered_then_requeued_and_purged()
    {
        var (queue, _) = await QueueAsync(10, new { maxAttempts = 1 });
        (await Enqueue(queue, new[] { new { id = "a", payload = (object)1 }, new { id = "b", payload = (object)2 } })).Expect(HttpStatusCode.OK);
        var items = (await Lease(queue, 2)).Expect(HttpStatusCode.OK).Json["items"]!.AsArray();
        foreach (var item in items)
        {
            var nack = (await Api.PostJson($"/v1/queues/{queue}/nack", new { leaseId = item!["leaseId"]!.GetValue<string>(), error = "boom", upstreamStatus = 500 })).Expect(HttpStatusCode.OK).Json;
            Assert.True(nack["dead"]!.GetValue<bool>());
        }

        var dead = (await Api.Get($"/v1/queues/{queue}/dead")).Expect(HttpStatusCode.OK).Json["items"]!.AsArray();
        Assert.Equal(["a", "b"], dead.Select(d => d!["id"]!.GetValue<string>()));
        Assert.Equal(("boom", 500, 1), (dead[0]!["error"]!.GetValue<string>(), dead[0]!["upstreamStatus"]!.GetValue<int>(), dead[0]!["attempts"]!.GetValue<int>()));

        Assert.Equal(1, (await Api.PostJson($"/v1/queues/{queue}/dead", new { action = "requeue", ids = new[] { "a" } })).Expect(HttpStatusCode.OK).Json["requeued"]!.GetValue<int>());
        Assert.Equal(1, (await Api.PostJson($"/v1/queues/{queue}/dead", new { action = "purge" })).Expect(HttpStatusCode.OK).Json["purged"]!.GetValue<int>());
        Assert.Empty((await Api.Get($"/v1/queues/{queue}/dead")).Expect(HttpStatusCode.OK).Json["items"]!.AsArray());
        var again = (await Lease(queue, 5)).Expect(HttpStatusCode.OK).Json["items"]!.AsArray();
        Assert.Equal(["a"], again.Select(i => i!["id"]!.GetValue<string>()));
        (await Api.PostJson($"/v1/queues/{queue}/dead", new { action = "delete" })).ExpectProblem(HttpStatusCode.BadRequest, "action");
    }

    [Fact]
    public async Task Bad_input_is_refused_naming_the_field()
    {
        var (queue, _) = await QueueAsync(10, new { maxPayloadBytes = 16 });
        var unknown = Ids.New("q-none-");

        (await Enqueue(unknown, new { payload = 1 })).ExpectProblem(HttpStatusCode.NotFound, "name");
        (await Lease(unknown, 1)).ExpectProblem(HttpStatusCode.NotFound, "name");
        (await Api.Get($"/v1/queues/{unknown}")).ExpectProblem(HttpStatusCode.NotFound, "name");
        (await Enqueue(queue, new { payload = new string('x', 20) })).ExpectProblem(HttpStatusCode.BadRequest, "payload");
        (await Enqueue(queue, new[] { new { payload = "ok", priority = "normal" }, new { payload = "ok", priority = "urgent" } })).ExpectProblem(HttpStatusCode.BadRequest, "items[1].priority");
        (await Enqueue(queue, new { payload = 1, colour = "red" })).ExpectProblem(HttpStatusCode.BadRequest, "colour");
        (await Enqueue(queue, new { id = " ", payload = 1 })).ExpectProblem(HttpStatusCode.BadRequest, "id");
        (await Enqueue(queue, Array.Empty<object>())).ExpectProblem(HttpStatusCode.BadRequest, "body");
        (await Api.PostJson($"/v1/queues/{queue}/lease", new { max = 0 })).ExpectProblem(HttpStatusCode.BadRequest, "max");
        (await Api.PostJson($"/v1/queues/{queue}/lease", new { waitMs = 60_000 })).ExpectProblem(HttpStatusCode.BadRequest, "waitMs");
        (await Api.PostJson($"/v1/queues/{queue}/ack", new { leaseId = "no-such-lease" })).ExpectProblem(HttpStatusCode.NotFound, "leaseId");
        (await Api.PostJson($"/v1/queues/{queue}/nack", new { leaseId = "x", upstreamStatus = 42 })).ExpectProblem(HttpStatusCode.BadRequest, "upstreamStatus");

        // Nothing refused was enqueued.
        var depth = (await Api.Get($"/v1/queues/{queue}")).Expect(HttpStatusCode.OK).Json["depth"]!.AsObject();
        Assert.All(depth, d => Assert.Equal(0, d.Value!.GetValue<int>()));
    }

    [Fact]
    public async Task Attributes_named_by_the_dispatch_are_required_and_pace_each_value_separately()
    {
        var chat = Ids.New("q-chat-");
        (await Api.PutResource(chat + ":a", Policies.FixedWindow("per-hour", 1, "01:00:00"))).Expect(HttpStatusCode.OK);
        (await Api.PutResource(chat + ":b", Policies.FixedWindow("per-hour", 1, "01:00:00"))).Expect(HttpStatusCode.OK);
        var queue = Ids.New("q-");
        (await Api.PutJson($"/v1/admin/queues/{queue}", new { dispatch = new { resources = new[] { chat + ":{chat}" } } })).Expect(HttpStatusCode.OK);

        (await Enqueue(queue, new { payload = 1 })).ExpectProblem(HttpStatusCode.BadRequest, "attributes.chat");
        (await Enqueue(queue, new[]
        {
            new { id = "a1", attributes = new { chat = "a" } },
            new { id = "a2", attributes = new { chat = "a" } },
            new { id = "b1", attributes = new { chat = "b" } },
        })).Expect(HttpStatusCode.OK);

        var leased = (await Lease(queue, 10)).Expect(HttpStatusCode.OK).Json["items"]!.AsArray();
        Assert.Equal(["a1", "b1"], leased.Select(i => i!["id"]!.GetValue<string>()));
    }

    [Fact]
    public async Task The_planner_says_108_events_at_20_a_minute_miss_3_minutes_and_4_workers_suffice()
    {
        var resource = Ids.New("q-plan-");
        (await Api.PutResource(resource, Policies.FixedWindow("per-minute", 20))).Expect(HttpStatusCode.OK);

        var plan = (await Api.PostJson("/v1/plan", new { items = 108, processingTime = "00:00:10", deadline = "00:03:00", dispatch = new { resources = new[] { resource } }, maxWorkers = 10 })).Expect(HttpStatusCode.OK).Json;

        Assert.False(plan["feasible"]!.GetValue<bool>());
        Assert.Equal("00:05:24", plan["finishTime"]!.GetValue<string>());
        Assert.Equal(324_000, plan["finishMs"]!.GetValue<long>());
        Assert.Equal(4, plan["workers"]!.GetValue<int>());
        Assert.Equal(6, plan["workersForDeadline"]!.GetValue<int>());
        Assert.Equal(20, plan["ratePerMinute"]!.GetValue<double>());
        Assert.Equal(20, await Api.Remaining("resource", resource, "per-minute"));

        (await Api.PostJson("/v1/plan", new { items = 5, processingTime = "00:00:10" })).ExpectProblem(HttpStatusCode.BadRequest, "dispatch");
        (await Api.PostJson("/v1/plan", new { processingTime = "00:00:10", ratePerMinute = 20 })).ExpectProblem(HttpStatusCode.BadRequest, "items");
        var beyond = (await Api.PostJson("/v1/plan", new { items = 3_000_000_000L, processingTime = "2.00:00:00", ratePerMinute = 20 })).ExpectProblem(HttpStatusCode.BadRequest, "items");
        Assert.Equal(
            ["items: must be from 0 to 2147483647 (got 3000000000).", "processingTime: must be more than 0 and at most a day (got 2.00:00:00)."],
            beyond["errors"]!.AsArray().Select(e => $"{e!["field"]}: {e["detail"]}"));

        // A token bucket is planned at its refill (6 per 5 s = 72 a minute), not its burst of 1.
        var bucket = Ids.New("q-plan-bucket-");
        (await Api.PutResource(bucket, Policies.TokenBucket("per-5s", 6, "00:00:05", burst: 1))).Expect(HttpStatusCode.OK);
        var paced = (await Api.PostJson("/v1/plan", new { items = 24, processingTime = "00:00:01", dispatch = new { resources = new[] { bucket } }, maxWorkers = 10 })).Expect(HttpStatusCode.OK).Json;
        Assert.Equal(72, paced["ratePerMinute"]!.GetValue<double>());
        Assert.Equal("00:00:20", paced["finishTime"]!.GetValue<string>());
        Assert.Equal(2, paced["workers"]!.GetValue<int>());

        // A finish past what a TimeSpan holds is the longest one, not a 500.
        var never = (await Api.PostJson("/v1/plan", new { items = int.MaxValue, processingTime = "1.00:00:00", deadline = "00:03:00", ratePerMinute = 1e-300 })).Expect(HttpStatusCode.OK).Json;
        Assert.False(never["feasible"]!.GetValue<bool>());
        Assert.Equal(TimeSpan.MaxValue.ToString("c"), never["finishTime"]!.GetValue<string>());
    }

    [Fact]
    public async Task Apply_defines_queues_and_plans_them_in_a_dry_run()
    {
        var queue = Ids.New("q-apply-");
        var document = "{\"queues\":{\"" + queue + "\":{\"dispatch\":{\"resources\":[\"telegram\"]},\"maxAttempts\":7}}}";

        var dry = (await Api.Apply(document, dryRun: true)).Expect(HttpStatusCode.OK).Json;
        Assert.Equal("create", dry["changes"]![0]!["action"]!.GetValue<string>());
        Assert.Equal($"queue:{queue}", dry["changes"]![0]!["subject"]!.GetValue<string>());
        (await Api.Get($"/v1/admin/queues/{queue}")).ExpectProblem(HttpStatusCode.NotFound, "name");

        (await Api.Apply(document)).Expect(HttpStatusCode.OK);
        Assert.Equal(7, (await Api.Get($"/v1/admin/queues/{queue}")).Expect(HttpStatusCode.OK).Json["maxAttempts"]!.GetValue<int>());
        Assert.Equal("unchanged", (await Api.Apply(document, dryRun: true)).Expect(HttpStatusCode.OK).Json["changes"]![0]!["action"]!.GetValue<string>());

        (await Api.Apply("{\"queues\":{\"" + queue + "\":{\"dispatch\":{\"resources\":[\"telegram\"]},\"maxAttempts\":0}}}")).ExpectProblem(HttpStatusCode.BadRequest, $"queues.{queue}.maxAttempts");
        Assert.Equal(7, (await Api.Get($"/v1/admin/queues/{queue}")).Expect(HttpStatusCode.OK).Json["maxAttempts"]!.GetValue<int>());
    }
}
