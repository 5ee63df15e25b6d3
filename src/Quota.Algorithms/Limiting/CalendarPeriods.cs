namespace Quota.Algorithms.Limiting;

/// <summary>Calendar period boundaries in a time zone, correct across daylight-saving changes.</summary>
public static class CalendarPeriods
{
    /// <summary>
    /// The period [Start, End) that contains <paramref name="instant"/>, both as UTC instants. A period starts at
    /// local midnight of its first day; where that midnight does not exist (a DST gap), at the first local time
    /// that does; where it occurs twice (a DST overlap), at its first occurrence.
    /// </summary>
    public static (DateTimeOffset Start, DateTimeOffset End) Containing(
        DateTimeOffset instant, TimeZoneInfo zone, CalendarPeriod period, DayOfWeek firstDayOfWeek = DayOfWeek.Monday)
    {
        ArgumentNullException.ThrowIfNull(zone);
        var local = TimeZoneInfo.ConvertTime(instant, zone).DateTime;
        var day = local.Date;
        var firstLocal = period switch
        {
            CalendarPeriod.Day => day,
            CalendarPeriod.Week => day.AddDays(-(((int)day.DayOfWeek - (int)firstDayOfWeek + 7) % 7)),
            CalendarPeriod.Month => new DateTime(day.Year, day.Month, 1, 0, 0, 0, DateTimeKind.Unspecified),
            _ => throw new ArgumentOutOfRangeException(nameof(period), period, "Use day, week or month."),
        };
        var nextLocal = period switch
        {
            CalendarPeriod.Day => firstLocal.AddDays(1),
            CalendarPeriod.Week => firstLocal.AddDays(7),
            _ => firstLocal.AddMonths(1),
        };
        return (StartOfLocal(firstLocal, zone), StartOfLocal(nextLocal, zone));
    }

    /// <summary>The first UTC instant whose local time is at or after <paramref name="local"/>.</summary>
    private static DateTimeOffset StartOfLocal(DateTime local, TimeZoneInfo zone)
    {
        local = DateTime.SpecifyKind(local, DateTimeKind.Unspecified);

        // Gaps are whole minutes in every zone in use (30 or 60 typically); this runs only at period rollover.
        while (zone.IsInvalidTime(local))
        {
            local = local.AddMinutes(1);
        }

        var offset = zone.IsAmbiguousTime(local)
            ? zone.GetAmbiguousTimeOffsets(local).Max()
            : zone.GetUtcOffset(local);
        return new DateTimeOffset(local.Ticks - offset.Ticks, TimeSpan.Zero);
    }
}
