using System.Globalization;
using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Quota.Http.Tests.Infrastructure;

namespace Quota.Http.Tests;

/// <summary>
/// The scheduler over the admin API: its status, a run on demand (a hot dedicated token rotated to a cool pooled one,
/// the change in the token views and the history), the history's limit, and the scheduler's settings on tenants
/// (<c>adaptive</c>) and tokens (<c>successor</c>) through every way they are written. The host's scheduler runs by
/// itself too; each test asks for a run before the one it asserts, so no run of its own comes in between (see
/// <see cref="SchedulerApi"/>).
/// </summary>
[Collection(AdminHostCollection.Name)]
public sealed class SchedulerAdminTests(AdminSilo host) : HostTest(host)
{
    private static readonly object PerHour20 = new { name = "per-hour", algorithm = "sliding-log", limit = 20, window = "01:00:00" };

    [Fact]
    public async Task Status_shows_that_it_runs_every_minute_and_what_the_last_run_was()
    {
        var status = await Api.SchedulerStatus();
        Assert.True(status["enabled"]!.GetValue<bool>());
        Assert.Equal(60, status["intervalSeconds"]!.GetValue<double>());
        Assert.Equal(5, status["samples"]!.GetValue<int>());

        var run = await Api.RunScheduler();

        var after = await Api.SchedulerStatus();
        Assert.Equal(run["run"]!.GetValue<long>(), after["runs"]!.GetValue<long>());
        Assert.Equal(run["at"]!.GetValue<string>(), after["lastRunAt"]!.GetValue<string>());
        Assert.Equal(Time(run["at"]) + TimeSpan.FromMinutes(1), Time(after["nextRunAt"]));
        Assert.Null(after["lastError"]);
    }

    [Fact]
    public async Task A_run_answers_its_number_and_leaves_a_quiet_upstream_alone()
    {
        var name = await Api.NewUpstream(100);
        var tenant = await Api.NewTenant(name, 20);
        var first = await Api.RunScheduler();

        // Only the tokens a rule can act on are read: every token of an upstream with dedicated or hybrid tenants,
        // elsewhere tokens with or named as a successor (this quiet upstream has none). A tenant whose reserve adapts
        // is sampled once per window: the run just after the first samples at most those created in between.
        var upstreams = (await Api.Get("/v1/admin/upstreams")).Expect(HttpStatusCode.OK).Json["upstreams"]!.AsArray();
        var tenants = (await Api.Get("/v1/admin/tenants")).Expect(HttpStatusCode.OK).Json["tenants"]!.AsArray();
        var rotating = tenants.Where(t => t!["strategy"]!.GetValue<string>() is "dedicated" or "hybrid").Select(t => t!["upstream"]!.GetValue<string>()).ToHashSet();
        var tokens = upstreams.Sum(u =>
        {
            var list = u!["tokens"]!.AsArray();
            return rotating.Contains(u["name"]!.GetValue<string>())
                ? list.Count
                : list.Count(t => t!["successor"] is not null || list.Any(o => o!["successor"]?.GetValue<string>() == t["id"]!.GetValue<string>()));
        });
        var adapting = tenants.Count(t => t!["strategy"]!.GetValue<string>() != "dedicated" && t["adaptive"]!["enabled"]!.GetValue<bool>() && t["reserved"]!.GetValue<long>() > 0);
        var run = await Api.RunScheduler();

        Assert.Equal(first["run"]!.GetValue<long>() + 1, run["run"]!.GetValue<long>());
        Assert.Equal(tokens, run["tokensRead"]!.GetValue<int>());
        Assert.DoesNotContain(name, rotating);
        Assert.InRange(run["tenantsSampled"]!.GetValue<int>(), 0, adapting);
        Assert.Empty(SchedulerApi.About(run["changes"], $"token:{name}/t1"));
        Assert.Empty(SchedulerApi.About(run["changes"], $"tenant:{tenant}"));
        Assert.DoesNotContain(SchedulerApi.Held(run), h => h.Contains(name, StringComparison.Ordinal) || h.Contains(tenant, StringComparison.Ordinal));
        Assert.Empty(await Api.SchedulerHistory($"tenant:{tenant}"));
    }

    [Fact]
    public async Task A_hot_dedicated_token_is_rotated_to_a_cool_pooled_one_and_the_history_says_why()
    {
        // An hour's window on the upstream and the token, so what was taken stays taken for the whole test.
        var (name, tenant) = (Ids.New("up-"), Ids.New("ten-"));
        (await Api.PutUpstream(name, new { bufferPercent = 0, window = "01:00:00" })).Expect(HttpStatusCode.OK);
        (await Api.PutTenant(tenant, new { upstream = name, strategy = "dedicated" })).Expect(HttpStatusCode.OK);
        (await Api.PutToken(name, "t1", new { secret = TenancyApi.SecretOf(name, "t1"), policies = new[] { PerHour20 }, dedicatedTo = tenant })).Expect(HttpStatusCode.OK);
        for (var i = 0; i < 18; i++)
        {
            Assert.Equal("t1", TenancyApi.ChosenToken(await Api.Acquire(new { tenant })));
        }

        // 18 of 20 is 90%, above the 85% that rotates; with no pooled token there is nowhere to go.
        var waiting = await Api.RunScheduler();
        Assert.Empty(SchedulerApi.About(waiting["changes"], $"token:{name}/t1"));
        Assert.Contains(
            $"rotate token:{name}/t1 (dedicated to {tenant}, used 18 of its limit of 20 (90%, above 85%)): no healthy pooled token used below 30% to move to.",
            SchedulerApi.Held(waiting));

        var t2 = (await Api.PutToken(name, "t2", new { secret = TenancyApi.SecretOf(name, "t2"), policies = new[] { PerHour20 } })).Expect(HttpStatusCode.OK).Json;
        Assert.Null(t2["dedicatedTo"]);

        var run = await Api.RunScheduler();

        Assert.Equal(waiting["run"]!.GetValue<long>() + 1, run["run"]!.GetValue<long>());
        var change = Assert.Single(SchedulerApi.About(run["changes"], $"token:{name}/t1"));
        Assert.Equal(run["run"]!.GetValue<long>(), change["run"]!.GetValue<long>());
        // Stamped when the tenancy configuration took the step, just after the run began.
        Assert.InRange(Time(change["at"]), Time(run["at"]), Time(run["at"]) + TimeSpan.FromMinutes(1));
        Assert.Equal("rotate", change["kind"]!.GetValue<string>());
        Assert.Equal($"dedicated to {tenant}", change["old"]!.GetValue<string>());
        Assert.Equal($"pooled; t2 dedicated to {tenant}", change["new"]!.GetValue<string>());
        Assert.Equal($"{tenant}'s dedicated token t1: used 18 of its limit of 20 (90%, above 85%); pooled token t2 used 0% takes its place", change["reason"]!.GetValue<string>());

        Assert.Null((await Api.GetToken(name, "t1")).Expect(HttpStatusCode.OK).Json["dedicatedTo"]);
        Assert.Equal(tenant, (await Api.GetToken(name, "t2")).Expect(HttpStatusCode.OK).Json["dedicatedTo"]!.GetValue<string>());
        Assert.Equal(["t2"], (await Api.GetTenant(tenant)).Expect(HttpStatusCode.OK).Json["dedicatedTokens"]!.AsArray().Select(t => t!.GetValue<string>()));

        var history = Assert.Single(await Api.SchedulerHistory($"token:{name}/t1"));
        Assert.Equal(change.ToJsonString(), history!.ToJsonString());
        Assert.Equal(change.ToJsonString(), Assert.Single(await Api.SchedulerHistory($"token:{name}/t1", limit: 1))!.ToJsonString());
        var logged = (await Api.Changes($"token:{name}/t1", limit: 1))[0]!;
        Assert.Equal("scheduler-rotate", logged["action"]!.GetValue<string>());
        Assert.Equal("scheduler", logged["source"]!.GetValue<string>());
    }

    [Fact]
    public async Task Apply_says_where_the_schedulers_rotation_in_force_differs_from_the_document()
    {
        var (name, tenant) = (Ids.New("up-"), Ids.New("ten-"));
        (await Api.PutUpstream(name, new { bufferPercent = 0, window = "01:00:00" })).Expect(HttpStatusCode.OK);
        (await Api.PutTenant(tenant, new { upstream = name, strategy = "dedicated" })).Expect(HttpStatusCode.OK);
        (await Api.PutToken(name, "t1", new { secret = TenancyApi.SecretOf(name, "t1"), policies = new[] { PerHour20 }, dedicatedTo = tenant })).Expect(HttpStatusCode.OK);
        (await Api.PutToken(name, "t2", new { secret = TenancyApi.SecretOf(name, "t2"), policies = new[] { PerHour20 } })).Expect(HttpStatusCode.OK);
        for (var i = 0; i < 18; i++)
        {
            Assert.Equal("t1", TenancyApi.ChosenToken(await Api.Acquire(new { tenant })));
        }

        var run = await Api.RunScheduler();
        var rotation = Assert.Single(SchedulerApi.About(run["changes"], $"token:{name}/t1"));

        // The document says what was written; the scheduler's rotation is what is in force.
        var document = $$"""
            { "upstreams": { "{{name}}": { "bufferPercent": 0, "window": "01:00:00", "tokens": {
                "t1": { "secret": "{{TenancyApi.SecretOf(name, "t1")}}", "policies": [ { "name": "per-hour", "algorithm": "sliding-log", "limit": 20, "window": "01:00:00" } ], "dedicatedTo": "{{tenant}}" },
                "t2": { "secret": "{{TenancyApi.SecretOf(name, "t2")}}", "policies": [ { "name": "per-hour", "algorithm": "sliding-log", "limit": 20, "window": "01:00:00" } ] } } } } }
            """;
        foreach (var dryRun in new[] { true, false })
        {
            var applied = (await Api.Apply(document, dryRun)).Expect(HttpStatusCode.OK).Json;
            var adapted = applied["adapted"]!.AsArray().OfType<JsonObject>().ToDictionary(a => a["subject"]!.GetValue<string>());
            Assert.Equal([$"token:{name}/t1", $"token:{name}/t2"], adapted.Keys.Order(StringComparer.Ordinal));
            var t1 = adapted[$"token:{name}/t1"];
            Assert.Equal(("dedicatedTo", tenant, (string?)null), (t1["field"]!.GetValue<string>(), t1["document"]!.GetValue<string>(), t1["current"]?.GetValue<string>()));
            Assert.Equal(rotation["reason"]!.GetValue<string>(), t1["reason"]!.GetValue<string>());
            var t2 = adapted[$"token:{name}/t2"];
            Assert.Equal(("dedicatedTo", (string?)null, tenant), (t2["field"]!.GetValue<string>(), t2["document"]?.GetValue<string>(), t2["current"]!.GetValue<string>()));
        }

        // A document naming neither token says nothing about them.
        var quiet = (await Api.Apply($$"""{ "tenants": { "{{tenant}}": { "upstream": "{{name}}", "strategy": "dedicated" } } }""")).Expect(HttpStatusCode.OK).Json;
        Assert.Empty(quiet["adapted"]!.AsArray());
    }

    [Theory]
    [InlineData("0")]
    [InlineData("1001")]
    [InlineData("-1")]
    [InlineData("ten")]
    [InlineData("")]
    public async Task A_history_limit_outside_1_to_1000_is_400_naming_limit(string limit)
    {
        var problem = (await Api.Get($"/v1/admin/scheduler/history?limit={limit}")).ExpectProblem(HttpStatusCode.BadRequest, "limit");

        Assert.Equal($"limit: must be a whole number from 1 to 1000 (got '{limit}'); the default is 100.", problem["detail"]!.GetValue<string>());
    }

    [Fact]
    public async Task History_limits_of_1_and_1000_are_accepted_and_an_unknown_subject_has_none()
    {
        // One known change (a hot dedicated token rotated, as above). How much history others wrote is not known (the
        // scheduler also runs by itself), so the whole history is checked for holding it, and a subject's for exactly it.
        var (name, tenant) = (Ids.New("up-"), Ids.New("ten-"));
        (await Api.PutUpstream(name, new { bufferPercent = 0, window = "01:00:00" })).Expect(HttpStatusCode.OK);
        (await Api.PutTenant(tenant, new { upstream = name, strategy = "dedicated" })).Expect(HttpStatusCode.OK);
        (await Api.PutToken(name, "t1", new { secret = TenancyApi.SecretOf(name, "t1"), policies = new[] { PerHour20 }, dedicatedTo = tenant })).Expect(HttpStatusCode.OK);
        (await Api.PutToken(name, "t2", new { secret = TenancyApi.SecretOf(name, "t2"), policies = new[] { PerHour20 } })).Expect(HttpStatusCode.OK);
        await Api.RunScheduler(); // so that no run of its own comes before the one asserted
        for (var i = 0; i < 18; i++)
        {
            Assert.Equal("t1", TenancyApi.ChosenToken(await Api.Acquire(new { tenant })));
        }

        var change = Assert.Single(SchedulerApi.About((await Api.RunScheduler())["changes"], $"token:{name}/t1"))!.ToJsonString();

        Assert.Equal([change], (await Api.SchedulerHistory($"token:{name}/t1", limit: 1000)).Select(c => c!.ToJsonString()));
        Assert.Contains(change, (await Api.SchedulerHistory(limit: 1000)).Select(c => c!.ToJsonString()));
        Assert.Single(await Api.SchedulerHistory(limit: 1));
        Assert.Empty(await Api.SchedulerHistory($"tenant:{Ids.New("ten-")}"));
    }

    [Fact]
    public async Task A_tenant_shows_its_adaptive_settings_and_its_configured_reserve()
    {
        var name = await Api.NewUpstream(100);
        var (plain, bounded) = (Ids.New("ten-"), Ids.New("ten-"));

        var defaults = (await Api.PutTenant(plain, new { upstream = name, reserved = 20, strategy = "shared" })).Expect(HttpStatusCode.OK).Json;
        Assert.Equal("""{"enabled":true,"minimum":null,"maximum":null}""", defaults["adaptive"]!.ToJsonString());
        Assert.Equal(20, defaults["configuredReserved"]!.GetValue<long>());
        Assert.Null(defaults["adaptedAt"]);

        var view = (await Api.PutTenant(bounded, new { upstream = name, reserved = 30, strategy = "shared", adaptive = new { enabled = true, minimum = 20, maximum = 50 } })).Expect(HttpStatusCode.OK).Json;
        Assert.Equal(30, view["reserved"]!.GetValue<long>());
        Assert.Equal(30, view["configuredReserved"]!.GetValue<long>());
        Assert.Equal("""{"enabled":true,"minimum":20,"maximum":50}""", view["adaptive"]!.ToJsonString());
        Assert.Null(view["adaptedAt"]);
        Assert.Equal(view.ToJsonString(), (await Api.GetTenant(bounded)).Expect(HttpStatusCode.OK).Json.ToJsonString());

        var off = (await Api.PutTenant(bounded, new { upstream = name, reserved = 30, strategy = "shared", adaptive = new { enabled = false } })).Expect(HttpStatusCode.OK).Json;
        Assert.Equal("""{"enabled":false,"minimum":null,"maximum":null}""", off["adaptive"]!.ToJsonString());
    }

    [Theory]
    [InlineData("""{ "minimum": 10, "maximum": 0 }""", "adaptive.maximum")]
    [InlineData("""{ "minimum": -1 }""", "adaptive.minimum")]
    [InlineData("""{ "minimum": 60, "maximum": 50 }""", "adaptive.minimum")]
    [InlineData("""{ "enabled": "sometimes" }""", "adaptive.enabled")]
    [InlineData("""{ "maximun": 50 }""", "adaptive.maximun")]
    public async Task Bad_adaptive_settings_are_400_naming_the_field(string adaptive, string field)
    {
        var name = await Api.NewUpstream(100);
        var tenant = Ids.New("ten-");

        (await Api.Put($"/v1/admin/tenants/{tenant}", $$"""{ "upstream": "{{name}}", "reserved": 20, "adaptive": {{adaptive}} }""")).ExpectProblem(HttpStatusCode.BadRequest, field);
        (await Api.GetTenant(tenant)).ExpectProblem(HttpStatusCode.NotFound, "id");
    }

    [Fact]
    public async Task Apply_takes_adaptive_settings_in_YAML_and_names_a_bad_one_by_its_document_path()
    {
        var name = await Api.NewUpstream(100);
        var tenant = Ids.New("ten-");

        (await Api.Apply(
            $"tenants:\n  {tenant}: {{ upstream: {name}, reserved: 20, adaptive: {{ enabled: false, minimum: 10, maximum: 40 }} }}\n",
            mediaType: "application/yaml")).Expect(HttpStatusCode.OK);

        var view = (await Api.GetTenant(tenant)).Expect(HttpStatusCode.OK).Json;
        Assert.Equal("""{"enabled":false,"minimum":10,"maximum":40}""", view["adaptive"]!.ToJsonString());

        var refused = (await Api.Apply(JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["tenants"] = new Dictionary<string, object> { [tenant] = new { upstream = name, reserved = 20, adaptive = new { maximum = 0 } } },
        }))).ExpectProblem(HttpStatusCode.BadRequest, $"tenants.{tenant}.adaptive.maximum");
        Assert.Contains("must be at least 1 (got 0)", refused["detail"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Equal(view.ToJsonString(), (await Api.GetTenant(tenant)).Expect(HttpStatusCode.OK).Json.ToJsonString());
    }

    [Fact]
    public async Task A_successor_round_trips_and_an_unknown_one_is_named_by_its_path()
    {
        var name = await Api.NewUpstream(100, 100);
        var policies = new[] { Policies.FixedWindow("per-minute", 100) };

        // No run of the host's own for a minute: t2 would take over from t1 as soon as it is named.
        await Api.RunScheduler();

        var named = (await Api.PutToken(name, "t1", new { policies, successor = "t2" })).Expect(HttpStatusCode.OK).Json;
        Assert.Equal("t2", named["successor"]!.GetValue<string>());
        Assert.Null(named["retiringSince"]);
        Assert.True(named["hasSecret"]!.GetValue<bool>());
        Assert.Equal(named.ToJsonString(), (await Api.GetToken(name, "t1")).Expect(HttpStatusCode.OK).Json.ToJsonString());
        Assert.Null((await Api.GetToken(name, "t2")).Expect(HttpStatusCode.OK).Json["successor"]);

        // The token route names fields as in its body; a document names them by their whole path.
        var put = (await Api.PutToken(name, "t1", new { policies, successor = "t9" })).ExpectProblem(HttpStatusCode.BadRequest, "successor");
        Assert.Contains("no token 't9' is configured on this upstream", put["detail"]!.GetValue<string>(), StringComparison.Ordinal);
        (await Api.Apply(JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["upstreams"] = new Dictionary<string, object>
            {
                [name] = new { bufferPercent = 0, tokens = new Dictionary<string, object> { ["t1"] = new { policies, successor = "t9" } } },
            },
        }))).ExpectProblem(HttpStatusCode.BadRequest, $"upstreams.{name}.tokens.t1.successor");
        (await Api.PutToken(name, "t1", new { policies, successor = "t1" })).ExpectProblem(HttpStatusCode.BadRequest, "successor");

        Assert.Equal("t2", (await Api.GetToken(name, "t1")).Expect(HttpStatusCode.OK).Json["successor"]!.GetValue<string>());
        var cleared = (await Api.PutToken(name, "t1", new { policies })).Expect(HttpStatusCode.OK).Json;
        Assert.Null(cleared["successor"]);
    }

    private static DateTimeOffset Time(JsonNode? node) => DateTimeOffset.Parse(node!.GetValue<string>(), CultureInfo.InvariantCulture);
}
