using Quota.Cli.Tests.Infrastructure;

namespace Quota.Cli.Tests;

/// <summary><c>quota resources list|get|set|delete</c>.</summary>
public sealed class ResourceCommandTests(OpenSilo host) : CliTest(host)
{
    [Fact]
    public async Task Set_creates_a_resource_that_list_get_usage_and_acquire_see_and_delete_removes()
    {
        var name = Ids.New("res-");

        var unknown = Exits(2, await Cli.Run("resources", "get", name));
        HasLine(unknown.Stderr, @"^quota: Unknown subject \(HTTP 404\)$", unknown);
        HasLine(unknown.Stderr, $@"^  name: resource '{name}' is neither configured nor given policies", unknown);

        var set = Exits(0, await Cli.Run("resources", "set", name, "--policy", Policy("per-hour", "sliding-log", 1, "01:00:00")));
        Assert.Equal($"set resource:{name}", set.Lines[0]);

        var list = Exits(0, await Cli.Run("resources", "list"));
        Assert.Equal(new[] { name, "no", "yes" }, Row(list, name));
        Assert.Equal(new[] { "telegram", "yes", "no" }, Row(list, "telegram"));
        Assert.Equal(new[] { "cli-burst:*", "yes", "no" }, Row(list, "cli-burst:*"));

        var got = Json(Exits(0, await Cli.Run("resources", "get", name, "--json")));
        Assert.True(got["own"]!.GetValue<bool>());
        Assert.Equal("sliding-log", got["policies"]![0]!["algorithm"]!.GetValue<string>());

        Exits(0, await Cli.Run("acquire", "-r", name));
        Exits(1, await Cli.Run("acquire", "-r", name));
        Assert.Equal(0, Json(Exits(0, await Cli.Run("usage", "resource", name, "--json")))["policies"]![0]!["remaining"]!.GetValue<long>());

        var deleted = Exits(0, await Cli.Run("resources", "delete", name));
        Assert.Equal($"reset resource:{name}: its own policies are removed.", deleted.Lines[0]);
        Assert.Contains("no policies: the resource is not configured.", deleted.Stdout, StringComparison.Ordinal);
        Exits(2, await Cli.Run("resources", "get", name));
        Assert.Null(Row(Exits(0, await Cli.Run("resources", "list")), name));
    }

    [Fact]
    public async Task Get_shows_a_configured_pattern()
    {
        var got = Exits(0, await Cli.Run("resources", "get", "telegram:chat:*"));
        HasLine(got.Stdout, @"^subject:\s+resource:telegram:chat:\*$", got);
        HasLine(got.Stdout, @"^policies:\s+from configuration$", got);
        Assert.Equal(new[] { "per-minute", "sliding-window", "20", "00:01:00", "-" }, Row(got, "per-minute"));
    }

    [Fact]
    public async Task Names_with_a_slash_address_the_same_subject_as_decisions()
    {
        // The CLI sends "/" in a name as %2F, which ASP.NET Core leaves encoded in route values.
        var name = Ids.New("res-") + "/gpt-4";
        var user = "org/" + Ids.User();

        var set = Exits(0, await Cli.Run("resources", "set", name, "--policy", Policy("per-hour", "fixed-window", 1, "01:00:00")));
        Assert.Equal($"set resource:{name}", set.Lines[0]);
        Assert.Equal(new[] { name, "no", "yes" }, Row(Exits(0, await Cli.Run("resources", "list")), name));

        Exits(0, await Cli.Run("acquire", "-r", name));
        var denied = Exits(1, await Cli.Run("acquire", "-r", name));
        HasLine(denied.Stdout, $@"^limited by:\s+resource:{name}/per-hour$", denied);
        var usage = Exits(0, await Cli.Run("usage", "resource", name));
        HasLine(usage.Stdout, $@"^subject:\s+resource:{name}$", usage);

        Exits(0, await Cli.Run("users", "set", user, "--policy", Policy("per-hour", "fixed-window", 1, "01:00:00")));
        Exits(0, await Cli.Run("keys", "create", user));
        Assert.Equal(user, Json(Exits(0, await Cli.Run("keys", "list", user, "--json")))["keys"]![0]!["user"]!.GetValue<string>());
        Exits(0, await Cli.Run("acquire", "--user", user));
        var userDenied = Exits(1, await Cli.Run("acquire", "--user", user));
        HasLine(userDenied.Stdout, $@"^limited by:\s+user:{user}/per-hour$", userDenied);
        Assert.Equal(0, Json(Exits(0, await Cli.Run("usage", "user", user, "--json")))["policies"]![0]!["remaining"]!.GetValue<long>());
        Assert.Equal($"reset user:{user}: its own policies are removed.", Exits(0, await Cli.Run("users", "delete", user)).Lines[0]);
    }

    [Fact]
    public async Task Patterns_cannot_be_set()
    {
        var pattern = Exits(2, await Cli.Run("resources", "set", Ids.New("res-") + ":*", "--policy", Policy("p", "fixed-window", 1, "00:01:00")));
        HasLine(pattern.Stderr, "^  name: patterns are configured under Quota:Policies:Resources", pattern);
    }
}
