namespace Quota.Cli.Tests.Infrastructure;

/// <summary>
/// The silo most tests share (an assembly fixture): no admin token, so loopback callers may administer, plus small
/// resources so decisions are exact and quick:
/// <list type="bullet">
/// <item><c>cli-burst:*</c>: token bucket, 2 per hour (burst 2), policy <c>per-hour</c>;</item>
/// <item><c>cli-slots:*</c>: concurrency, 1 held at once, lease TTL 1 hour, policy <c>in-flight</c>;</item>
/// <item><c>cli-bench-*</c>: sliding log, 30 per hour, policy <c>per-hour</c>, for <c>bench --subjects 2|3</c>
/// with <c>--prefix cli-bench-…</c>.</item>
/// </list>
/// Tests use the patterns with unique names so each has its own windows.
/// </summary>
public sealed class OpenSilo : SiloFixture
{
    public const string BurstPolicy = "per-hour";
    public const string SlotPolicy = "in-flight";
    public const string BenchPolicy = "per-hour";
    public const int BenchLimit = 30;

    protected override IEnumerable<string> Settings =>
    [
        "--Quota:Policies:Resources:0:Name=cli-burst:*",
        "--Quota:Policies:Resources:0:Policies:0:Name=" + BurstPolicy,
        "--Quota:Policies:Resources:0:Policies:0:Algorithm=token-bucket",
        "--Quota:Policies:Resources:0:Policies:0:Limit=2",
        "--Quota:Policies:Resources:0:Policies:0:Window=01:00:00",
        "--Quota:Policies:Resources:1:Name=cli-slots:*",
        "--Quota:Policies:Resources:1:Policies:0:Name=" + SlotPolicy,
        "--Quota:Policies:Resources:1:Policies:0:Algorithm=concurrency",
        "--Quota:Policies:Resources:1:Policies:0:Limit=1",
        "--Quota:Policies:Resources:1:Policies:0:LeaseTtl=01:00:00",
        "--Quota:Policies:Resources:2:Name=cli-bench-*",
        "--Quota:Policies:Resources:2:Policies:0:Name=" + BenchPolicy,
        "--Quota:Policies:Resources:2:Policies:0:Algorithm=sliding-log",
        $"--Quota:Policies:Resources:2:Policies:0:Limit={BenchLimit}",
        "--Quota:Policies:Resources:2:Policies:0:Window=01:00:00",
    ];

    /// <summary>A fresh <c>cli-burst:*</c> resource: 2 permits, none used.</summary>
    public static string NewBurst() => Ids.New("cli-burst:");

    /// <summary>A fresh <c>cli-slots:*</c> resource: 1 permit, none held.</summary>
    public static string NewSlots() => Ids.New("cli-slots:");

    /// <summary>A fresh bench prefix whose resources (<c>{prefix}-r0</c>, …) match <c>cli-bench-*</c>.</summary>
    public static string NewBenchPrefix() => Ids.New("cli-bench-");
}

/// <summary>A silo started with an admin token (<c>--Quota:Admin:Token</c>): admin calls need it, decisions do not.</summary>
public sealed class TokenSilo : SiloFixture
{
    /// <summary>Distinctive, so a test can tell it never shows up in any output.</summary>
    public const string Token = "cli-test-secret-9f3b27c1";

    protected override IEnumerable<string> Settings => [$"--Quota:Admin:Token={Token}"];
}

/// <summary>Unique subject names, so tests never share windows or change-log entries.</summary>
public static class Ids
{
    public static string New(string prefix) => $"{prefix}{Guid.NewGuid():N}";

    public static string User() => New("u-");
}
