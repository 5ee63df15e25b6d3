using Quota.Cli.Tests.Infrastructure;

namespace Quota.Cli.Tests;

/// <summary><c>quota users list|get|set|delete</c>.</summary>
public sealed class UserCommandTests(OpenSilo host) : CliTest(host)
{
    [Fact]
    public async Task Set_with_policy_options_then_get_list_and_delete()
    {
        var user = Ids.User();

        var set = Exits(0, await Cli.Run("users", "set", user, "--policy", Policy("per-hour", "fixed-window", 7, "01:00:00"), "--policy", Policy("burst", "token-bucket", 3, "00:00:01")));
        Assert.Equal($"set user:{user}", set.Lines[0]);
        HasLine(set.Stdout, @"^policies:\s+its own$", set);
        Assert.Equal(new[] { "per-hour", "fixed-window", "7", "01:00:00", "-" }, Row(set, "per-hour"));
        Assert.Equal(new[] { "burst", "token-bucket", "3", "00:00:01", "burst 3" }, Row(set, "burst"));

        var got = Json(Exits(0, await Cli.Run("users", "get", user, "--json")));
        Assert.Equal($"user:{user}", got["subject"]!.GetValue<string>());
        Assert.True(got["own"]!.GetValue<bool>());
        Assert.Equal(7, got["policies"]![0]!["limit"]!.GetValue<long>());
        Assert.Equal("01:00:00", got["policies"]![0]!["window"]!.GetValue<string>());

        var list = Exits(0, await Cli.Run("users", "list"));
        Assert.NotNull(Row(list, user));
        Assert.Contains(user, Json(Exits(0, await Cli.Run("users", "list", "--json")))["users"]!.AsArray().Select(n => n!.GetValue<string>()));

        var deleted = Exits(0, await Cli.Run("users", "delete", user));
        Assert.Equal($"reset user:{user}: its own policies are removed.", deleted.Lines[0]);
        HasLine(deleted.Stdout, @"^policies:\s+the defaults$", deleted);

        var after = Json(Exits(0, await Cli.Run("users", "get", user, "--json")));
        Assert.False(after["own"]!.GetValue<bool>());
        Assert.Equal("per-minute", after["policies"]![0]!["name"]!.GetValue<string>());
        Assert.Null(Row(Exits(0, await Cli.Run("users", "list")), user));
    }

    [Fact]
    public async Task Set_from_a_file_takes_effect_on_acquire()
    {
        var user = Ids.User();
        var file = TempFile("policies.json", $$"""{ "policies": [ {{Policy("per-hour", "fixed-window", 1, "01:00:00")}} ] }""");

        Exits(0, await Cli.Run("users", "set", user, "-f", file));

        Exits(0, await Cli.Run("acquire", "--user", user));
        var denied = Exits(1, await Cli.Run("acquire", "--user", user));
        HasLine(denied.Stdout, $@"^limited by:\s+user:{user}/per-hour$", denied);

        // From stdin with -f -, as a bare array.
        Exits(0, await Cli.RunWithInput($"[ {Policy("per-hour", "fixed-window", 5, "01:00:00")} ]", "users", "set", user, "-f", "-"));
        var got = Json(Exits(0, await Cli.Run("users", "get", user, "--json")));
        Assert.Equal(5, got["policies"]![0]!["limit"]!.GetValue<long>());

        // Usage is kept across the change: one used of five.
        Exits(0, await Cli.Run("acquire", "--user", user));
        var usage = Json(Exits(0, await Cli.Run("usage", "user", user, "--json")));
        Assert.Equal(3, usage["policies"]![0]!["remaining"]!.GetValue<long>());
    }

    [Fact]
    public async Task Invalid_policies_exit_2_naming_every_field()
    {
        var user = Ids.User();

        var invalid = Exits(2, await Cli.Run("users", "set", user, "--policy", Policy("a", "nope", 1, "00:00:01"), "--policy", Policy("b", "fixed-window", 0, "00:00:01")));
        Assert.Equal("quota: Invalid request (HTTP 400)", invalid.Stderr.Split('\n')[0]);
        HasLine(invalid.Stderr, @"^  policies\[0\]\.algorithm: 'nope' is not an algorithm", invalid);
        HasLine(invalid.Stderr, @"^  policies\[1\]\.limit: must be at least 1", invalid);
        Assert.Empty(invalid.Stdout);

        var malformed = Exits(2, await Cli.Run("users", "set", user, "--policy", "{not json"));
        Assert.StartsWith("quota: --policy #1 is not valid JSON", malformed.Stderr, StringComparison.Ordinal);

        var none = Exits(2, await Cli.Run("users", "set", user));
        Assert.Contains("-f FILE or --policy", none.Stderr, StringComparison.Ordinal);

        var missing = Exits(2, await Cli.Run("users", "set", user, "-f", "/nonexistent/policies.json"));
        Assert.StartsWith("quota: cannot read /nonexistent/policies.json", missing.Stderr, StringComparison.Ordinal);

        // Nothing was set.
        Assert.False(Json(Exits(0, await Cli.Run("users", "get", user, "--json")))["own"]!.GetValue<bool>());
    }
}
