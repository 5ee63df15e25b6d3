using System.Text.RegularExpressions;
using Quota.Cli.Tests.Infrastructure;

namespace Quota.Cli.Tests;

/// <summary><c>quota keys list|get|create|set|delete</c>.</summary>
public sealed class KeyCommandTests(OpenSilo host) : CliTest(host)
{
    [Fact]
    public async Task Create_list_get_set_and_delete_a_key()
    {
        var user = Ids.User();
        var raw = Ids.New("raw-key-");

        var created = Exits(0, await Cli.RunWithInput(raw + "\n", "keys", "create", user, "--key-file", "-", "--policy", Policy("per-hour", "fixed-window", 2, "01:00:00")));
        Assert.Equal($"registered a key for user {user}", created.Lines[0]);
        HasLine(created.Stdout, $"^key:\\s+{raw}$", created);
        var keyId = Regex.Match(created.Stdout, @"^key id:\s+([0-9a-f]{64})$", RegexOptions.Multiline).Groups[1].Value;
        Assert.Equal(64, keyId.Length);
        Assert.Contains("The raw key is shown once", created.Stdout, StringComparison.Ordinal);
        Assert.Equal(new[] { "per-hour", "fixed-window", "2", "01:00:00", "-" }, Row(created, "per-hour"));

        var list = Exits(0, await Cli.Run("keys", "list", user));
        Assert.Equal(new[] { keyId, "key:" + keyId[..12], "per-hour" }, Row(list, keyId));
        Assert.DoesNotContain(raw, list.Stdout, StringComparison.Ordinal);

        var got = Exits(0, await Cli.Run("keys", "get", keyId));
        HasLine(got.Stdout, $"^user:\\s+{user}$", got);
        HasLine(got.Stdout, $"^label:\\s+key:{keyId[..12]}$", got);

        // The key's own policy applies on acquire.
        Exits(0, await Cli.RunWithInput(raw, "acquire", "--key-file", "-"));
        Exits(0, await Cli.RunWithInput(raw, "acquire", "--key-file", "-"));
        var denied = Exits(1, await Cli.RunWithInput(raw, "acquire", "--key-file", "-"));
        HasLine(denied.Stdout, $@"^limited by:\s+key:{keyId[..12]}/per-hour$", denied);
        Assert.DoesNotContain(raw, denied.Stdout, StringComparison.Ordinal);

        var set = Exits(0, await Cli.Run("keys", "set", keyId, "--policy", Policy("per-hour", "fixed-window", 10, "01:00:00")));
        Assert.Equal($"set key:{keyId[..12]}", set.Lines[0]);
        Assert.Equal(10, Json(Exits(0, await Cli.Run("keys", "get", keyId, "--json")))["policies"]![0]!["limit"]!.GetValue<long>());
        Exits(0, await Cli.RunWithInput(raw, "acquire", "--key-file", "-"));

        var cleared = Exits(0, await Cli.Run("keys", "set", keyId, "--clear"));
        Assert.Contains("no policies of its own; its user's apply.", cleared.Stdout, StringComparison.Ordinal);

        var deleted = Exits(0, await Cli.Run("keys", "delete", keyId));
        Assert.Equal($"revoked key {keyId}", deleted.Stdout.Trim());

        var gone = Exits(2, await Cli.Run("keys", "get", keyId));
        HasLine(gone.Stderr, "^  keyId: no key with this id is registered", gone);
        var refused = Exits(2, await Cli.RunWithInput(raw, "acquire", "--key-file", "-"));
        HasLine(refused.Stderr, @"^quota: Unknown subject \(HTTP 404\)$", refused);
        Assert.Equal($"user {user} has no registered keys.", Exits(0, await Cli.Run("keys", "list", user)).Stdout.Trim());
        Exits(2, await Cli.Run("keys", "delete", keyId));
    }

    [Fact]
    public async Task Create_without_a_key_generates_one_and_prints_it_once()
    {
        var user = Ids.User();

        var created = Exits(0, await Cli.Run("keys", "create", user));
        var raw = Regex.Match(created.Stdout, @"^key:\s+(qk_[A-Za-z0-9_-]{43})$", RegexOptions.Multiline).Groups[1].Value;
        Assert.NotEmpty(raw);
        Assert.Single(Regex.Matches(created.Stdout, Regex.Escape(raw)));
        Assert.Contains("no policies of its own; its user's apply.", created.Stdout, StringComparison.Ordinal);

        var json = Json(Exits(0, await Cli.Run("keys", "create", user, "--json")));
        Assert.StartsWith("qk_", json["key"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Equal(2, Json(Exits(0, await Cli.Run("keys", "list", user, "--json")))["keys"]!.AsArray().Count);

        Exits(0, await Cli.RunWithInput(raw, "acquire", "--key-file", "-"));
    }

    [Fact]
    public async Task Mistakes_exit_2_with_the_field()
    {
        var shortKey = Exits(2, await Cli.RunWithInput("short", "keys", "create", Ids.User(), "--key-file", "-"));
        HasLine(shortKey.Stderr, "^  key: is too short", shortKey);

        var badId = Exits(2, await Cli.Run("keys", "get", "not-a-key-id"));
        HasLine(badId.Stderr, "^  keyId: must be a key id", badId);

        var noPolicies = Exits(2, await Cli.Run("keys", "set", new string('a', 64)));
        Assert.Contains("--clear", noPolicies.Stderr, StringComparison.Ordinal);

        var raw = Ids.New("raw-key-");
        Exits(0, await Cli.RunWithInput(raw, "keys", "create", Ids.User(), "--key-file", "-"));
        var taken = Exits(2, await Cli.RunWithInput(raw, "keys", "create", Ids.User(), "--key-file", "-"));
        HasLine(taken.Stderr, @"^quota: .*\(HTTP 409\)$", taken);
        HasLine(taken.Stderr, "^  key: this key is registered to another user", taken);
    }

    [Fact]
    public async Task The_raw_key_comes_from_the_environment_or_a_file_never_an_argument()
    {
        var raw = Ids.New("raw-key-");
        var variable = $"QUOTA_TEST_KEY_{Guid.NewGuid():N}";
        Environment.SetEnvironmentVariable(variable, raw);
        try
        {
            var created = Exits(0, await Cli.Run("keys", "create", Ids.User(), "--key-env", variable));
            Assert.Contains(raw, created.Stdout, StringComparison.Ordinal);
            Exits(0, await Cli.RunWithInput(raw, "acquire", "--key-file", "-"));
            var acquired = Exits(0, await Cli.Run("acquire", "--key-env", variable));
            Assert.DoesNotContain(raw, acquired.Stdout, StringComparison.Ordinal);
        }
        finally
        {
            Environment.SetEnvironmentVariable(variable, null);
        }

        var asArgument = Exits(2, await Cli.Run("keys", "create", Ids.User(), "--key", Ids.New("raw-key-")));
        Assert.Contains("--key", asArgument.Stderr, StringComparison.Ordinal);

        // acquire takes a key the same way: an argument would show the raw key to every user of the machine (ps).
        var acquireArgument = Exits(2, await Cli.Run("acquire", "--key", raw));
        Assert.Contains("--key", acquireArgument.Stderr, StringComparison.Ordinal);
        var acquireBoth = Exits(2, await Cli.RunWithInput(raw, "acquire", "--key-env", variable, "--key-file", "-"));
        Assert.Contains("either with --key-file or with --key-env, not both", acquireBoth.Stderr, StringComparison.Ordinal);

        var unset = Exits(2, await Cli.Run("keys", "create", Ids.User(), "--key-env", variable));
        Assert.Contains($"the environment variable {variable} is not set.", unset.Stderr, StringComparison.Ordinal);

        var both = Exits(2, await Cli.RunWithInput("x", "keys", "create", Ids.User(), "--key-env", variable, "--key-file", "-"));
        Assert.Contains("either with --key-file or with --key-env, not both", both.Stderr, StringComparison.Ordinal);
    }
}
