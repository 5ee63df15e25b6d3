using Microsoft.Extensions.Options;

namespace Quota.Grains.Scheduling;

/// <summary>The scheduler's settings (<c>Quota:Scheduler</c>).</summary>
public sealed class SchedulerOptions
{
    /// <summary>The configuration section.</summary>
    public const string SectionName = "Quota:Scheduler";

    /// <summary>Whether it runs by itself; when false it runs only when asked (<c>POST /v1/admin/scheduler/run</c>). Default: true.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Time between runs (quota time), at least one second. Default: one minute.</summary>
    public TimeSpan Interval { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>
    /// Use samples (one per run) a tenant needs since its last change before its reserve is adapted again: the
    /// "average use stays above 90%" is the average of these. Default: 5.
    /// </summary>
    public int Samples { get; set; } = 5;

    /// <summary>A dedicated token used above this share of its limit is rotated away from. Default: 0.85.</summary>
    public double RotateAbove { get; set; } = 0.85;

    /// <summary>Only a pooled token used below this share of its limit is rotated to. Default: 0.30.</summary>
    public double RotateBelow { get; set; } = 0.30;
}

/// <summary>Checks <see cref="SchedulerOptions"/> at start, naming every bad setting.</summary>
public sealed class SchedulerOptionsValidator : IValidateOptions<SchedulerOptions>
{
    /// <inheritdoc />
    public ValidateOptionsResult Validate(string? name, SchedulerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        const string S = SchedulerOptions.SectionName;
        var errors = new List<string>();
        if (options.Interval < TimeSpan.FromSeconds(1) || options.Interval > TimeSpan.FromDays(1))
        {
            errors.Add($"{S}:Interval must be from 00:00:01 to 1.00:00:00 (got {options.Interval}).");
        }

        if (options.Samples is < 1 or > 1000)
        {
            errors.Add($"{S}:Samples must be from 1 to 1000 (got {options.Samples}).");
        }

        if (!double.IsFinite(options.RotateBelow) || !double.IsFinite(options.RotateAbove)
            || options.RotateBelow <= 0 || options.RotateAbove > 1 || options.RotateBelow >= options.RotateAbove)
        {
            errors.Add($"{S}:RotateBelow and {S}:RotateAbove must satisfy 0 < RotateBelow < RotateAbove <= 1 (got {options.RotateBelow} and {options.RotateAbove}).");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
