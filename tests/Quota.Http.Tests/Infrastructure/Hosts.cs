namespace Quota.Http.Tests.Infrastructure;

/// <summary>
/// A host with small custom policies so tests are exact and quick, on top of the built-in defaults:
/// <list type="bullet">
/// <item><c>test-burst</c> and <c>test-burst:*</c>: token bucket, 3 per hour (burst 3), policy <c>per-hour</c>;</item>
/// <item><c>slots</c> and <c>slots:*</c>: concurrency, 1 held at once, lease TTL 1 hour, policy <c>in-flight</c>.</item>
/// </list>
/// Waits are capped at 5 s (<c>Quota:Decisions:MaxWait</c>) and bodies at 2048 bytes (<c>Quota:Http:MaxBodyBytes</c>).
/// Tests use the patterns with unique names so each has its own windows.
/// </summary>
public sealed class ConfiguredSilo : SiloFixture
{
    public const string BurstPolicy = "per-hour";
    public const long BurstLimit = 3;
    public const string SlotPolicy = "in-flight";
    public const long MaxWaitMs = 5000;
    public const int MaxBodyBytes = 2048;

    protected override IEnumerable<string> Settings =>
    [
        $"--Quota:Decisions:MaxWait=00:00:05",
        $"--Quota:Http:MaxBodyBytes={MaxBodyBytes}",
        .. Resource(0, "test-burst", BurstPolicy, "token-bucket", ("Limit", "3"), ("Window", "01:00:00")),
        .. Resource(1, "test-burst:*", BurstPolicy, "token-bucket", ("Limit", "3"), ("Window", "01:00:00")),
        .. Resource(2, "slots", SlotPolicy, "concurrency", ("Limit", "1"), ("LeaseTtl", "01:00:00")),
        .. Resource(3, "slots:*", SlotPolicy, "concurrency", ("Limit", "1"), ("LeaseTtl", "01:00:00")),
    ];

    /// <summary>A fresh <c>test-burst:*</c> resource: 3 permits, none used.</summary>
    public static string NewBurst() => Ids.New("test-burst:");

    /// <summary>A fresh <c>slots:*</c> resource: 1 permit, none held.</summary>
    public static string NewSlots() => Ids.New("slots:");

    private static IEnumerable<string> Resource(int index, string name, string policy, string algorithm, params (string Key, string Value)[] settings)
    {
        var prefix = $"--Quota:Policies:Resources:{index}";
        yield return $"{prefix}:Name={name}";
        yield return $"{prefix}:Policies:0:Name={policy}";
        yield return $"{prefix}:Policies:0:Algorithm={algorithm}";
        foreach (var (key, value) in settings)
        {
            yield return $"{prefix}:Policies:0:{key}={value}";
        }
    }
}

/// <summary>The host exactly as shipped: nothing configured but its ports (built-in policies and limits).</summary>
public sealed class DefaultSilo : SiloFixture;

/// <summary>
/// The shipped host with an admin token (<c>Quota:Admin:Token</c>): <see cref="SiloFixture.Api"/> sends
/// <c>Authorization: Bearer {Token}</c> with every request; <see cref="QuotaApi.WithAuthorization"/> sends other headers.
/// Admin changes are global to a host (the change log, the registry), so every test that changes configuration
/// runs here, one at a time. Its throttle of failed tokens is set high (<c>Quota:Admin:MaxFailures</c>): the gate's
/// tests send many wrong tokens from one address; <see cref="ThrottledSilo"/> tests the throttle. A tenant's requests
/// wait up to 10 s for its borrow (<c>Quota:Tenancy:BorrowWait</c>, 1 s by default): <see cref="BorrowingTests"/> checks
/// what a borrow admits, exactly, and while the suite loads both cores its answer can take longer than a second (two runs
/// admitted 193 of 285 that way).
/// </summary>
public sealed class AdminSilo : SiloFixture
{
    public const string Token = "quota-test-admin-token-7c1e0d9b";

    protected override IEnumerable<string> Settings => [$"--Quota:Admin:Token={Token}", "--Quota:Admin:MaxFailures=100000", "--Quota:Tenancy:BorrowWait=00:00:10"];

    protected override string? Authorization => $"Bearer {Token}";
}

/// <summary>
/// A host with an admin token whose throttle locks a source out after <see cref="MaxFailures"/> wrong tokens in a
/// minute. Tests that fail on purpose do so from their own loopback address (<see cref="Sources"/>).
/// </summary>
public sealed class ThrottledSilo : SiloFixture
{
    public const string Token = "quota-throttle-admin-token-5b2f81c4";
    public const int MaxFailures = 3;

    protected override IEnumerable<string> Settings => [$"--Quota:Admin:Token={Token}", $"--Quota:Admin:MaxFailures={MaxFailures}"];

    protected override string? Authorization => $"Bearer {Token}";
}

[CollectionDefinition(Name)]
public sealed class ThrottledHostCollection : ICollectionFixture<ThrottledSilo>
{
    public const string Name = "throttled host";
}

[CollectionDefinition(Name)]
public sealed class AdminHostCollection : ICollectionFixture<AdminSilo>
{
    public const string Name = "admin host";
}

[CollectionDefinition(Name)]
public sealed class ConfiguredHostCollection : ICollectionFixture<ConfiguredSilo>
{
    public const string Name = "configured host";
}

[CollectionDefinition(Name)]
public sealed class DefaultHostCollection : ICollectionFixture<DefaultSilo>
{
    public const string Name = "default host";
}

/// <summary>Unique subject names, so tests never share windows.</summary>
public static class Ids
{
    public static string New(string prefix) => $"{prefix}{Guid.NewGuid():N}";

    public static string User() => New("u-");
}
