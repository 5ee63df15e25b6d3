using Quota.Cli.Tests.Infrastructure;

namespace Quota.Cli.Tests;

/// <summary><c>quota acquire</c>, <c>settle</c>, <c>release</c> and <c>usage</c> against the real silo.</summary>
public sealed class DecisionCommandTests(OpenSilo host) : CliTest(host)
{
    [Fact]
    public async Task Acquire_exits_0_while_allowed_and_1_when_denied_naming_the_limit()
    {
        var resource = OpenSilo.NewBurst();

        var first = Exits(0, await Cli.Run("acquire", "--resource", resource));
        Assert.Equal("ALLOWED", first.Lines[0]);
        HasLine(first.Stdout, @"^remaining:\s+1/2$", first);
        Assert.Equal(["resource:" + resource, OpenSilo.BurstPolicy, "token-bucket", "1", "2", "3600 s"], Row(first, "resource:" + resource)![..6]);
        Assert.Empty(first.Stderr);
        Assert.All(first.Stdout, c => Assert.True(c < 128, $"non-ASCII output: {first}"));

        Exits(0, await Cli.Run("acquire", "-r", resource));

        var denied = Exits(1, await Cli.Run("acquire", "-r", resource));
        Assert.Equal("DENIED", denied.Lines[0]);
        HasLine(denied.Stdout, $@"^limited by:\s+resource:{resource}/{OpenSilo.BurstPolicy}$", denied);
        HasLine(denied.Stdout, @"^remaining:\s+0/2$", denied);
        HasLine(denied.Stdout, @"^retry after:\s+[1-9][0-9]* ms$", denied);
        Assert.Empty(denied.Stderr);
    }

    [Fact]
    public async Task Acquire_json_prints_the_raw_decision_and_keeps_the_exit_codes()
    {
        var resource = OpenSilo.NewBurst();

        var allowed = Json(Exits(0, await Cli.Run("acquire", "-r", resource, "--cost", "2", "--json")));
        Assert.True(allowed["allowed"]!.GetValue<bool>());
        Assert.Equal(0, allowed["remaining"]!.GetValue<long>());
        Assert.Equal("resource:" + resource, allowed["policies"]![0]!["subject"]!.GetValue<string>());

        var denied = Json(Exits(1, await Cli.Run("acquire", "-r", resource, "--json")));
        Assert.False(denied["allowed"]!.GetValue<bool>());
        Assert.Equal($"resource:{resource}/{OpenSilo.BurstPolicy}", denied["limitedBy"]!.GetValue<string>());
        Assert.True(denied["retryAfterMs"]!.GetValue<long>() > 0);
    }

    [Fact]
    public async Task Acquire_errors_exit_2_with_the_field()
    {
        var noSubject = Exits(2, await Cli.Run("acquire", "--cost", "1"));
        Assert.Contains("--user, --key-file or --key-env, --tenant, --upstream or --resource", noSubject.Stderr, StringComparison.Ordinal);

        var resource = OpenSilo.NewBurst();
        var tooCostly = Exits(2, await Cli.Run("acquire", "-r", resource, "--cost", "5"));
        Assert.Contains("quota: Invalid request (HTTP 400)", tooCostly.Stderr, StringComparison.Ordinal);
        HasLine(tooCostly.Stderr, @"^  cost: ", tooCostly);
        HasLine(tooCostly.Stderr, $@"^  limited by: resource:{resource}/{OpenSilo.BurstPolicy}$", tooCostly);
        Assert.Empty(tooCostly.Stdout);

        var unknown = Exits(2, await Cli.Run("acquire", "-r", Ids.New("no-such-resource-")));
        HasLine(unknown.Stderr, @"^quota: Unknown subject \(HTTP 404\)$", unknown);
        HasLine(unknown.Stderr, @"^  resources\[0\]: ", unknown);

        var badPriority = Exits(2, await Cli.Run("acquire", "-r", resource, "--priority", "urgent"));
        Assert.Contains("urgent", badPriority.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Reserve_prints_a_lease_that_settle_settles_once()
    {
        var user = Ids.User();

        var reserved = Exits(0, await Cli.Run("acquire", "--user", user, "--cost", "10", "--reserve", "--json"));
        var lease = Json(reserved)["leaseId"]!.GetValue<string>();
        Assert.Equal(90, Json(reserved)["remaining"]!.GetValue<long>());

        var settled = Exits(0, await Cli.Run("settle", lease, "4"));
        Assert.Equal($"settled {lease}", settled.Stdout.Trim());

        // The refund of 6 is visible in the user's usage.
        var usage = Json(Exits(0, await Cli.Run("usage", "user", user, "--json")));
        Assert.Equal(96, usage["policies"]![0]!["remaining"]!.GetValue<long>());

        var again = Exits(2, await Cli.Run("settle", lease, "4"));
        HasLine(again.Stderr, @"^quota: Unknown subject \(HTTP 404\)$", again);
        HasLine(again.Stderr, @"^  leaseId: no subject holds this lease", again);

        var negative = Exits(2, await Cli.Run("settle", lease, "-1"));
        HasLine(negative.Stderr, @"^  actualCost: must be 0 or more", negative);
    }

    [Fact]
    public async Task Release_gives_a_concurrency_permit_back()
    {
        var slots = OpenSilo.NewSlots();

        var held = Exits(0, await Cli.Run("acquire", "-r", slots));
        var leaseLine = held.Lines.Single(line => line.StartsWith("lease:", StringComparison.Ordinal));
        var lease = leaseLine["lease:".Length..].Trim();

        var busy = Exits(1, await Cli.Run("acquire", "-r", slots));
        HasLine(busy.Stdout, $@"^limited by:\s+resource:{slots}/{OpenSilo.SlotPolicy}$", busy);

        var released = Exits(0, await Cli.Run("release", lease));
        Assert.Equal($"released {lease}", released.Stdout.Trim());

        Exits(0, await Cli.Run("acquire", "-r", slots));
        Exits(2, await Cli.Run("release", lease));
    }

    [Fact]
    public async Task Usage_shows_the_policies_without_consuming()
    {
        var resource = OpenSilo.NewBurst();
        Exits(0, await Cli.Run("acquire", "-r", resource));

        var usage = Exits(0, await Cli.Run("usage", "resource", resource));
        HasLine(usage.Stdout, $@"^subject:\s+resource:{resource}$", usage);
        HasLine(usage.Stdout, @"^waiting:\s+0$", usage);
        Assert.Equal(["resource:" + resource, OpenSilo.BurstPolicy, "token-bucket", "1", "2"], Row(usage, "resource:" + resource)![..5]);

        // Looking did not consume: still one left.
        Assert.Equal(1, Json(Exits(0, await Cli.Run("usage", "resource", resource, "--json")))["policies"]![0]!["remaining"]!.GetValue<long>());

        var unknown = Exits(2, await Cli.Run("usage", "resource", Ids.New("nothing-")));
        HasLine(unknown.Stderr, @"^  id: resource:nothing-[0-9a-f]{32} is not known", unknown);

        var rawKey = Exits(2, await Cli.Run("usage", "key", "not-a-key-id"));
        HasLine(rawKey.Stderr, @"^  id: use the key id", rawKey);

        var badKind = Exits(2, await Cli.Run("usage", "tenant", "x"));
        Assert.Contains("tenant", badKind.Stderr, StringComparison.Ordinal);
    }
}
