using Microsoft.Extensions.Options;

namespace Quota.Grains.Configuration;

/// <summary>
/// How much one silo takes on before it sheds (<c>Quota:Limits</c>). Past a ceiling a request is refused at once with
/// <c>503</c>, <c>Retry-After</c> and the <c>temporary-reduced-capacity</c> problem type, before anything is decided
/// or consumed, and counted in <c>quota.shed</c>; what is already active keeps working.
/// </summary>
public sealed class LimitsOptions
{
    /// <summary>The configuration section.</summary>
    public const string SectionName = "Quota:Limits";

    /// <summary>The most subject grains (users, keys, resources) one silo keeps active at once.</summary>
    /// <remarks>
    /// Default: sized to the machine, a quarter of the memory available to the process at about 4 KB per subject
    /// (<see cref="DefaultMaxActiveSubjects"/>): about 1.5 million with 24 GiB, 32,000 in a 512 MiB container.
    /// </remarks>
    public int MaxActiveSubjects { get; set; } = DefaultMaxActiveSubjects();

    /// <summary>
    /// The most HTTP requests one silo works on at once; past a share of it lower priorities are shed first (low, then
    /// normal, then high; critical only at the ceiling). Default: 1000.
    /// </summary>
    public int MaxRequestsInFlight { get; set; } = 1000;

    /// <summary>
    /// The thread-pool queue delay past which a silo sheds HTTP requests by priority: low above it, normal above twice it,
    /// high above four times it, critical above eight times it. It sees what <see cref="MaxRequestsInFlight"/> cannot: the
    /// requests that have arrived but wait for a thread to reach the gate. <c>00:00:00</c> turns it off. Default: 100 ms.
    /// </summary>
    public TimeSpan MaxQueueDelay { get; set; } = TimeSpan.FromMilliseconds(100);

    /// <summary>The <c>Retry-After</c> a shed request is given. Default: 1 second.</summary>
    public TimeSpan ShedRetryAfter { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>A quarter of the memory available to the process, at 4 KB per subject, at least 10,000.</summary>
    public static int DefaultMaxActiveSubjects()
    {
        var available = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
        return (int)Math.Clamp(available / 4 / 4096, 10_000, int.MaxValue);
    }
}

/// <summary>Checks <see cref="LimitsOptions"/> at start, naming every bad setting.</summary>
public sealed class LimitsOptionsValidator : IValidateOptions<LimitsOptions>
{
    /// <inheritdoc />
    public ValidateOptionsResult Validate(string? name, LimitsOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        const string S = LimitsOptions.SectionName;
        var errors = new List<string>();
        if (options.MaxActiveSubjects < 1)
        {
            errors.Add($"{S}:MaxActiveSubjects must be 1 or more (got {options.MaxActiveSubjects}); leave it unset to size it to the machine ({LimitsOptions.DefaultMaxActiveSubjects()} here).");
        }

        if (options.MaxRequestsInFlight < 1)
        {
            errors.Add($"{S}:MaxRequestsInFlight must be 1 or more (got {options.MaxRequestsInFlight}); the default is 1000.");
        }

        if (options.MaxQueueDelay < TimeSpan.Zero || options.MaxQueueDelay > TimeSpan.FromMinutes(1))
        {
            errors.Add($"{S}:MaxQueueDelay must be from 00:00:00 (off) to 00:01:00 (got {options.MaxQueueDelay}); the default is 00:00:00.1.");
        }

        if (options.ShedRetryAfter < TimeSpan.FromSeconds(1) || options.ShedRetryAfter > TimeSpan.FromHours(1))
        {
            errors.Add($"{S}:ShedRetryAfter must be from 00:00:01 to 01:00:00 (got {options.ShedRetryAfter}); Retry-After is sent in whole seconds.");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
