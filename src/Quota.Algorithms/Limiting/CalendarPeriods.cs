namespace Quota.Algorithms.Limiting;

/// <summary>Calendar period boundaries in a time zone, correct across daylight-saving changes.</summary>
public static class CalendarPeriods
{
    /// <summary>
    /// The period [Start, End) that contains <paramref name="instant"/>, both as UTC instants. A period starts at
    /// local midnight of its first day; where that midnight does not exist (a DST gap), at the first local time
    /// that does; where it occurs twice (a DST overlap), at its first occurrence. A bound outside the range of
    /// <see cref="DateTimeOffset"/> (a period beginning before year 1 or ending after year 9999) is clamped to it.
    /// </summary>
    public static (DateTimeOffset Start, DateTimeOffset End) Containing(
        DateTimeOffset instant, TimeZoneInfo zone, CalendarPeriod period, DayOfWeek firstDayOfWeek = DayOfWeek.Monday)
    {
        var (start, end) = ContainingTicks(instant, zone, period, firstDayOfWeek);
        return (Clamped(start), Clamped(end));
    }

    /// <summary>
    /// <see cref="Containing"/> in UTC ticks, unclamped: <see cref="long.MinValue"/> for a start before year 1 and
    /// <see cref="long.MaxValue"/> for an end after year 9999, so start &lt;= instant &lt; end holds at both ends of time.
    /// </summary>
    internal static (long Start, long End) ContainingTicks(
        DateTimeOffset instant, TimeZoneInfo zone, CalendarPeriod period, DayOfWeek firstDayOfWeek)
    {
        ArgumentNullException.ThrowIfNull(zone);

        // ConvertTime clamps a local time beyond year 9999 or before year 1 to that range, so the local day here
        // is the real one except within a day of either end of time; the checks below handle those.
        var local = TimeZoneInfo.ConvertTime(instant, zone).DateTime;
        var day = local.Date;
        var daysIntoWeek = ((int)day.DayOfWeek - (int)firstDayOfWeek + 7) % 7;
        var firstLocal = period switch
        {
            CalendarPeriod.Day => day,
            CalendarPeriod.Week => AddDays(day, -daysIntoWeek),
            CalendarPeriod.Month => new DateTime(day.Year, day.Month, 1, 0, 0, 0, DateTimeKind.Unspecified),
            _ => throw new ArgumentOutOfRangeException(nameof(period), period, "Use day, week or month."),
        };
        var nextLocal = period switch
        {
            CalendarPeriod.Day => AddDays(day, 1),
            CalendarPeriod.Week => AddDays(day, 7 - daysIntoWeek),
            _ => day.Year == 9999 && day.Month == 12 ? null : firstLocal!.Value.AddMonths(1),
        };

        // A DateTime that does not exist (before year 1 or after 9999) is a bound at the end of time.
        var start = firstLocal is { } first ? StartOfLocal(first, zone) : long.MinValue;
        var end = nextLocal is { } next ? StartOfLocal(next, zone) : long.MaxValue;

        // A local time before year 1 was clamped up to 0001-01-01: the instant is in the period before that one.
        return start <= instant.UtcTicks ? (start, end) : (long.MinValue, start);
    }

    private static DateTime? AddDays(DateTime day, int days)
    {
        var ticks = day.Ticks + (days * TimeSpan.TicksPerDay);
        return ticks < DateTime.MinValue.Ticks || ticks > DateTime.MaxValue.Ticks ? null : new DateTime(ticks, DateTimeKind.Unspecified);
    }

    private static DateTimeOffset Clamped(long utcTicks) =>
        new(Math.Clamp(utcTicks, DateTimeOffset.MinValue.UtcTicks, DateTimeOffset.MaxValue.UtcTicks), TimeSpan.Zero);

    /// <summary>The first UTC instant (in ticks, possibly before year 1) whose local time is at or after <paramref name="local"/>.</summary>
    private static long StartOfLocal(DateTime local, TimeZoneInfo zone)
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
        return local.Ticks - offset.Ticks;
    }
}
