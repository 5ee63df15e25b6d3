using Quota.Algorithms.Limiting;

namespace Quota.Algorithms.Tests.Limiting;

/// <summary>Calendar periods and quotas across daylight-saving changes, month lengths and week starts.</summary>
public sealed class CalendarTests
{
    private static readonly TimeZoneInfo Warsaw = TimeZoneInfo.FindSystemTimeZoneById("Europe/Warsaw");

    private static readonly TimeSpan OneTick = TimeSpan.FromTicks(1);

    /// <summary>Zones with every kind of transition: none, 1 h at 02:00, 30 min, gaps and overlaps at midnight, southern hemisphere.</summary>
    public static readonly TheoryData<string> Zones = new(
        "UTC",
        "Europe/Warsaw",
        "America/New_York",
        "America/St_Johns",
        "Australia/Lord_Howe",
        "Asia/Kathmandu",
        "Pacific/Chatham",
        "America/Santiago",
        "America/Havana",
        "Asia/Beirut",
        "Atlantic/Azores",
        "Africa/Cairo",
        "Pacific/Kiritimati");

    private static DateTimeOffset Utc(int year, int month, int day, int hour = 0, int minute = 0) =>
        new(year, month, day, hour, minute, 0, TimeSpan.Zero);

    private static CalendarQuotaLimiter Quota(string zone, CalendarPeriod period, long limit = 1, DayOfWeek firstDay = DayOfWeek.Monday) =>
        new(new PolicyDefinition
        {
            Name = "calendar",
            Algorithm = AlgorithmKind.Calendar,
            Limit = limit,
            Period = period,
            TimeZone = zone,
            FirstDayOfWeek = firstDay,
        });

    private static (DateTimeOffset Start, DateTimeOffset End) Day(string zone, DateTimeOffset instant) =>
        CalendarPeriods.Containing(instant, TimeZoneInfo.FindSystemTimeZoneById(zone), CalendarPeriod.Day);

    [Fact]
    public void TheSpringForwardDayInWarsawLasts23Hours()
    {
        var (start, end) = CalendarPeriods.Containing(Utc(2026, 3, 29, 12), Warsaw, CalendarPeriod.Day);
        Assert.Equal(Utc(2026, 3, 28, 23), start);
        Assert.Equal(Utc(2026, 3, 29, 22), end);
        Assert.Equal(TimeSpan.FromHours(23), end - start);
    }

    [Fact]
    public void TheFallBackDayInWarsawLasts25Hours()
    {
        var (start, end) = CalendarPeriods.Containing(Utc(2026, 10, 25, 12), Warsaw, CalendarPeriod.Day);
        Assert.Equal(Utc(2026, 10, 24, 22), start);
        Assert.Equal(Utc(2026, 10, 25, 23), end);
        Assert.Equal(TimeSpan.FromHours(25), end - start);
    }

    [Fact]
    public void ADailyQuotaRetriesAtTheNextLocalMidnightOnDaylightSavingDays()
    {
        var spring = Quota("Europe/Warsaw", CalendarPeriod.Day);
        Assert.True(spring.Acquire(1, Utc(2026, 3, 29, 10)).Allowed);
        var springDenied = spring.Acquire(1, Utc(2026, 3, 29, 10));
        Assert.Equal(TimeSpan.FromHours(12), springDenied.RetryAfter);
        Assert.Equal(Utc(2026, 3, 28, 23).UtcTicks, spring.PeriodStartTicks);
        Assert.False(spring.Acquire(1, Utc(2026, 3, 29, 22) - OneTick).Allowed);
        Assert.True(spring.Acquire(1, Utc(2026, 3, 29, 22)).Allowed);

        var fall = Quota("Europe/Warsaw", CalendarPeriod.Day);
        Assert.True(fall.Acquire(1, Utc(2026, 10, 25, 10)).Allowed);
        var fallDenied = fall.Acquire(1, Utc(2026, 10, 25, 10));
        Assert.Equal(TimeSpan.FromHours(13), fallDenied.RetryAfter);
        Assert.False(fall.Acquire(1, Utc(2026, 10, 25, 23) - OneTick).Allowed);
        Assert.True(fall.Acquire(1, Utc(2026, 10, 25, 23)).Allowed);
    }

    [Fact]
    public void TheHourRepeatedOnTheFallBackDayBelongsToThatDay()
    {
        // 02:30 local happens at 00:30Z (CEST) and again at 01:30Z (CET): both are on 25 October.
        var quota = Quota("Europe/Warsaw", CalendarPeriod.Day);
        Assert.True(quota.Acquire(1, Utc(2026, 10, 25, 0, 30)).Allowed);
        var again = quota.Acquire(1, Utc(2026, 10, 25, 1, 30));
        Assert.False(again.Allowed);
        Assert.Equal(TimeSpan.FromHours(21.5), again.RetryAfter);
    }

    [Fact]
    public void AMonthIsTheCalendarMonthFromLocalMidnightOnTheFirst()
    {
        var quota = Quota("Europe/Warsaw", CalendarPeriod.Month);
        Assert.True(quota.Acquire(1, Utc(2026, 1, 31, 12)).Allowed);
        var d = quota.Acquire(1, Utc(2026, 1, 31, 12));
        Assert.Equal(TimeSpan.FromHours(11), d.RetryAfter);
        Assert.Equal(Utc(2025, 12, 31, 23).UtcTicks, quota.PeriodStartTicks);

        // Local midnight on 1 February is 23:00Z on 31 January.
        Assert.False(quota.Acquire(1, Utc(2026, 1, 31, 23) - OneTick).Allowed);
        Assert.True(quota.Acquire(1, Utc(2026, 1, 31, 23)).Allowed);
        Assert.Equal(Utc(2026, 2, 28, 23).UtcTicks, quota.PeriodEndTicks);
    }

    [Theory]
    [InlineData(2026, 2, 28 * 24)]
    [InlineData(2028, 2, 29 * 24)]
    [InlineData(2026, 3, (31 * 24) - 1)]
    [InlineData(2026, 4, 30 * 24)]
    [InlineData(2026, 10, (31 * 24) + 1)]
    [InlineData(2026, 12, 31 * 24)]
    public void MonthsInWarsawHaveTheirCalendarLength(int year, int month, int hours)
    {
        var (start, end) = CalendarPeriods.Containing(Utc(year, month, 15), Warsaw, CalendarPeriod.Month);
        Assert.Equal(TimeSpan.FromHours(hours), end - start);
        var localStart = TimeZoneInfo.ConvertTime(start, Warsaw);
        Assert.Equal(new DateTime(year, month, 1), localStart.DateTime);
        Assert.Equal(new DateTime(year, month, 1).AddMonths(1), TimeZoneInfo.ConvertTime(end, Warsaw).DateTime);
    }

    [Fact]
    public void WeeksStartOnMondayByDefault()
    {
        // 2026-01-07 is a Wednesday.
        var (start, end) = CalendarPeriods.Containing(Utc(2026, 1, 7, 12), TimeZoneInfo.Utc, CalendarPeriod.Week);
        Assert.Equal(Utc(2026, 1, 5), start);
        Assert.Equal(Utc(2026, 1, 12), end);

        var (mondayStart, _) = CalendarPeriods.Containing(Utc(2026, 1, 5), TimeZoneInfo.Utc, CalendarPeriod.Week);
        Assert.Equal(Utc(2026, 1, 5), mondayStart);
        var (_, sundayEnd) = CalendarPeriods.Containing(Utc(2026, 1, 12) - OneTick, TimeZoneInfo.Utc, CalendarPeriod.Week);
        Assert.Equal(Utc(2026, 1, 12), sundayEnd);
    }

    [Fact]
    public void TheFirstDayOfTheWeekIsHonoured()
    {
        var (sunday, _) = CalendarPeriods.Containing(Utc(2026, 1, 7, 12), TimeZoneInfo.Utc, CalendarPeriod.Week, DayOfWeek.Sunday);
        Assert.Equal(Utc(2026, 1, 4), sunday);
        var (saturday, saturdayEnd) = CalendarPeriods.Containing(Utc(2026, 1, 7, 12), TimeZoneInfo.Utc, CalendarPeriod.Week, DayOfWeek.Saturday);
        Assert.Equal(Utc(2026, 1, 3), saturday);
        Assert.Equal(Utc(2026, 1, 10), saturdayEnd);
        var (wednesday, _) = CalendarPeriods.Containing(Utc(2026, 1, 7, 12), TimeZoneInfo.Utc, CalendarPeriod.Week, DayOfWeek.Wednesday);
        Assert.Equal(Utc(2026, 1, 7), wednesday);
    }

    [Fact]
    public void AWeeklyQuotaRetriesAtTheStartOfItsOwnWeek()
    {
        // Saturday 2026-01-10 at noon UTC: a Sunday week restarts in 12 h, a Monday week in 36 h.
        var sundayWeeks = Quota("UTC", CalendarPeriod.Week, firstDay: DayOfWeek.Sunday);
        Assert.True(sundayWeeks.Acquire(1, Utc(2026, 1, 10, 12)).Allowed);
        Assert.Equal(TimeSpan.FromHours(12), sundayWeeks.Acquire(1, Utc(2026, 1, 10, 12)).RetryAfter);

        var mondayWeeks = Quota("UTC", CalendarPeriod.Week);
        Assert.True(mondayWeeks.Acquire(1, Utc(2026, 1, 10, 12)).Allowed);
        Assert.Equal(TimeSpan.FromHours(36), mondayWeeks.Acquire(1, Utc(2026, 1, 10, 12)).RetryAfter);
    }

    [Fact]
    public void AWeekAcrossTheSpringChangeIsOneHourShort()
    {
        var (start, end) = CalendarPeriods.Containing(Utc(2026, 3, 27), Warsaw, CalendarPeriod.Week);
        Assert.Equal(Utc(2026, 3, 22, 23), start);
        Assert.Equal(Utc(2026, 3, 29, 22), end);
        Assert.Equal(TimeSpan.FromHours((7 * 24) - 1), end - start);
    }

    [Fact]
    public void WhenLocalMidnightFallsInAGapTheDayStartsAtTheFirstValidLocalTime()
    {
        // Santiago 2026-09-06: clocks jump from 23:59:59 -04 to 01:00 -03, so that day starts at 01:00 -03 = 04:00Z.
        var santiago = TimeZoneInfo.FindSystemTimeZoneById("America/Santiago");
        Assert.True(santiago.IsInvalidTime(new DateTime(2026, 9, 6, 0, 0, 0, DateTimeKind.Unspecified)));

        var (start, end) = Day("America/Santiago", Utc(2026, 9, 6, 12));
        Assert.Equal(Utc(2026, 9, 6, 4), start);
        Assert.Equal(Utc(2026, 9, 7, 3), end);
        Assert.Equal(new DateTime(2026, 9, 6, 1, 0, 0), TimeZoneInfo.ConvertTime(start, santiago).DateTime);
        var (previousStart, previousEnd) = Day("America/Santiago", Utc(2026, 9, 6, 3, 59));
        Assert.Equal(Utc(2026, 9, 5, 4), previousStart);
        Assert.Equal(start, previousEnd);

        // Beirut 2026-03-29: 00:00 EET does not exist; the day starts at 01:00 EEST = 22:00Z on the 28th.
        var (beirut, beirutEnd) = Day("Asia/Beirut", Utc(2026, 3, 29, 12));
        Assert.Equal(Utc(2026, 3, 28, 22), beirut);
        Assert.Equal(Utc(2026, 3, 29, 21), beirutEnd);

        // The same through the limiter: exhausted just before the gap, the quota is back at 04:00Z.
        var quota = Quota("America/Santiago", CalendarPeriod.Day);
        Assert.True(quota.Acquire(1, Utc(2026, 9, 6, 3)).Allowed);
        Assert.Equal(TimeSpan.FromHours(1), quota.Acquire(1, Utc(2026, 9, 6, 3)).RetryAfter);
    }

    [Fact]
    public void EveryMidnightGapOnThisMachineFrom2025To2027StartsTheDayAtTheFirstValidLocalTime()
    {
        var gaps = 0;
        foreach (var zone in TimeZoneInfo.GetSystemTimeZones().Where(z => z.SupportsDaylightSavingTime))
        {
            for (var day = new DateTime(2025, 1, 1); day < new DateTime(2028, 1, 1); day = day.AddDays(1))
            {
                if (!zone.IsInvalidTime(day))
                {
                    continue;
                }

                gaps++;
                var start = FirstInstantOfLocalDay(zone, day);
                var local = TimeZoneInfo.ConvertTime(start, zone).DateTime;
                Assert.True(local.Date == day && local.TimeOfDay > TimeSpan.Zero, $"{zone.Id} {day:yyyy-MM-dd}: first local time {local:O}");

                var (periodStart, periodEnd) = CalendarPeriods.Containing(start + TimeSpan.FromHours(12), zone, CalendarPeriod.Day);
                Assert.Equal(start, periodStart);
                Assert.Equal(FirstInstantOfLocalDay(zone, day.AddDays(1)), periodEnd);
                Assert.Equal(start, CalendarPeriods.Containing(start - OneTick, zone, CalendarPeriod.Day).End);
            }
        }

        // Santiago, Havana, Beirut, Cairo and the Azores all have one every year.
        Assert.True(gaps >= 15, $"only {gaps} midnight gaps found");
    }

    /// <summary>The first UTC instant whose local date is <paramref name="day"/>, by bisection on ConvertTime alone.</summary>
    private static DateTimeOffset FirstInstantOfLocalDay(TimeZoneInfo zone, DateTime day)
    {
        var low = new DateTimeOffset(day.AddDays(-2), TimeSpan.Zero).UtcTicks;   // local date before day
        var high = new DateTimeOffset(day.AddDays(2), TimeSpan.Zero).UtcTicks;   // local date on or after day
        while (high - low > 1)
        {
            var mid = low + ((high - low) / 2);
            if (TimeZoneInfo.ConvertTime(new DateTimeOffset(mid, TimeSpan.Zero), zone).DateTime.Date < day)
            {
                low = mid;
            }
            else
            {
                high = mid;
            }
        }

        return new DateTimeOffset(high, TimeSpan.Zero);
    }

    [Fact]
    public void WhenLocalMidnightOccursTwiceTheDayStartsAtItsFirstOccurrence()
    {
        // Havana 2026-11-01: 00:59:59 CDT is followed by 00:00 CST, so midnight happens at 04:00Z and 05:00Z.
        var (start, end) = Day("America/Havana", Utc(2026, 11, 1, 4, 30));
        Assert.Equal(Utc(2026, 11, 1, 4), start);
        Assert.Equal(Utc(2026, 11, 2, 5), end);
        Assert.Equal((start, end), Day("America/Havana", Utc(2026, 11, 1, 5, 30)));
        Assert.Equal(Utc(2026, 11, 1, 4), Day("America/Havana", Utc(2026, 11, 1, 4) - OneTick).End);
    }

    [Fact]
    public void WhenClocksFallBackAcrossMidnightTheRepeatedHourBelongsToTheEarlierDay()
    {
        // Beirut 2026-10-25: 23:59:59 EEST on the 24th is followed by 23:00 EET on the 24th again.
        var first = Day("Asia/Beirut", Utc(2026, 10, 24, 20, 30));
        var second = Day("Asia/Beirut", Utc(2026, 10, 24, 21, 30));
        Assert.Equal(first, second);
        Assert.Equal(Utc(2026, 10, 23, 21), first.Start);
        Assert.Equal(Utc(2026, 10, 24, 22), first.End);
        Assert.Equal(TimeSpan.FromHours(25), first.End - first.Start);
    }

    [Theory]
    [MemberData(nameof(Zones))]
    public void ConsecutiveDaysTileTimeExactlyThroughout2026(string zoneId)
    {
        var zone = TimeZoneInfo.FindSystemTimeZoneById(zoneId);
        var (start, end) = CalendarPeriods.Containing(Utc(2025, 12, 31, 12), zone, CalendarPeriod.Day);
        var days = 0;
        while (start < Utc(2027, 1, 2))
        {
            Assert.True(end > start, $"{zoneId}: day starting {start:O} is empty");
            var length = end - start;
            Assert.InRange(length, TimeSpan.FromHours(22), TimeSpan.FromHours(26));
            var local = TimeZoneInfo.ConvertTime(start, zone).DateTime;
            Assert.True(local.TimeOfDay < TimeSpan.FromHours(2), $"{zoneId}: day starting {start:O} starts at local {local:O}");

            foreach (var instant in new[] { start, start + (length / 2), end - OneTick })
            {
                Assert.Equal((start, end), CalendarPeriods.Containing(instant, zone, CalendarPeriod.Day));
            }

            var next = CalendarPeriods.Containing(end, zone, CalendarPeriod.Day);
            Assert.Equal(end, next.Start);
            Assert.Equal(local.Date.AddDays(1), TimeZoneInfo.ConvertTime(next.Start, zone).DateTime.Date);
            (start, end) = next;
            days++;
        }

        Assert.InRange(days, 367, 369);
    }

    [Theory]
    [MemberData(nameof(Zones))]
    public void EveryHourOf2026IsInExactlyTheDayWeekAndMonthThatContainIt(string zoneId)
    {
        var zone = TimeZoneInfo.FindSystemTimeZoneById(zoneId);
        foreach (var period in new[] { CalendarPeriod.Day, CalendarPeriod.Week, CalendarPeriod.Month })
        {
            for (var instant = Utc(2026, 1, 1); instant < Utc(2027, 1, 1); instant += TimeSpan.FromMinutes(59))
            {
                var (start, end) = CalendarPeriods.Containing(instant, zone, period);
                Assert.True(start <= instant && instant < end, $"{zoneId} {period}: {instant:O} not in [{start:O}, {end:O})");
            }
        }
    }

    [Fact]
    public void ADailyLimiterCountsEachLocalDaySeparately()
    {
        var quota = Quota("Asia/Kathmandu", CalendarPeriod.Day, limit: 2);

        // Kathmandu is UTC+05:45: local midnight is 18:15Z.
        Assert.True(quota.Acquire(2, Utc(2026, 6, 1, 18, 14)).Allowed);
        var d = quota.Acquire(1, Utc(2026, 6, 1, 18, 14));
        Assert.Equal(TimeSpan.FromMinutes(1), d.RetryAfter);
        Assert.Equal(TimeSpan.FromMinutes(1), d.ResetAfter);
        Assert.True(quota.Acquire(2, Utc(2026, 6, 1, 18, 15)).Allowed);
    }

    [Fact]
    public void ChangingTheZoneCarriesTheUsageIntoTheNewPeriodAsIfTakenNow()
    {
        Limiter quota = Quota("Europe/Warsaw", CalendarPeriod.Day, limit: 10);
        Assert.True(quota.Acquire(8, Utc(2026, 6, 1, 12)).Allowed);
        quota = quota.Reconfigure(quota.Policy with { TimeZone = "America/New_York" }, Utc(2026, 6, 1, 12));

        var usage = quota.GetUsage(Utc(2026, 6, 1, 12));
        Assert.Equal(8, usage.Used);
        Assert.Equal(2, usage.Remaining);

        // New York's day ends at 04:00Z.
        Assert.Equal(TimeSpan.FromHours(16), quota.Acquire(3, Utc(2026, 6, 1, 12)).RetryAfter);
    }

    [Fact]
    public void ARaisedLimitWithTheSameZoneNameKeepsThePeriod()
    {
        Limiter quota = Quota("Europe/Warsaw", CalendarPeriod.Day, limit: 10);
        Assert.True(quota.Acquire(10, Utc(2026, 6, 1, 12)).Allowed);
        var same = quota.Reconfigure(quota.Policy with { Limit = 12 }, Utc(2026, 6, 1, 12));
        Assert.Same(quota, same);
        Assert.Equal(2, same.GetUsage(Utc(2026, 6, 1, 12)).Remaining);
    }

    [Fact]
    public void PeriodsAtTheEndsOfTimeAreClampedToTheRangeOfDateTimeOffset()
    {
        Assert.Equal(
            (Utc(9999, 12, 31), DateTimeOffset.MaxValue),
            CalendarPeriods.Containing(DateTimeOffset.MaxValue, TimeZoneInfo.Utc, CalendarPeriod.Day));
        Assert.Equal(
            (Utc(9999, 12, 1), DateTimeOffset.MaxValue),
            CalendarPeriods.Containing(DateTimeOffset.MaxValue, TimeZoneInfo.Utc, CalendarPeriod.Month));

        // 0001-01-01 is a Monday: a week starting on Sunday began the day before year 1.
        Assert.Equal(
            (DateTimeOffset.MinValue, Utc(1, 1, 7)),
            CalendarPeriods.Containing(DateTimeOffset.MinValue, TimeZoneInfo.Utc, CalendarPeriod.Week, DayOfWeek.Sunday));

        // Five hours behind UTC, the first two hours of year 1 are still 31 December of year 0 locally.
        var minusFive = TimeZoneInfo.FindSystemTimeZoneById("Etc/GMT+5");
        Assert.Equal(
            (DateTimeOffset.MinValue, Utc(1, 1, 1, 5)),
            CalendarPeriods.Containing(Utc(1, 1, 1, 2), minusFive, CalendarPeriod.Day));
        Assert.Equal(
            (Utc(1, 1, 1, 5), Utc(1, 1, 2, 5)),
            CalendarPeriods.Containing(Utc(1, 1, 1, 5), minusFive, CalendarPeriod.Day));
    }

    [Fact]
    public void ACalendarQuotaAtTheEndsOfTimeKeepsCountingInsteadOfThrowing()
    {
        var last = Quota("UTC", CalendarPeriod.Day);
        Assert.True(last.Acquire(1, DateTimeOffset.MaxValue).Allowed);
        var denied = last.Acquire(1, DateTimeOffset.MaxValue);
        Assert.False(denied.Allowed);
        Assert.Equal(DenialReason.LimitExhausted, denied.Reason);
        Assert.True(denied.RetryAfter > TimeSpan.Zero);

        // At UTC-5 the first instant is Sunday 31 December of year 0, 19:00 local.
        var firstDay = Quota("Etc/GMT+5", CalendarPeriod.Day);
        Assert.True(firstDay.Acquire(1, DateTimeOffset.MinValue).Allowed);
        Assert.Equal(TimeSpan.FromHours(5), firstDay.Acquire(1, DateTimeOffset.MinValue).RetryAfter);
        Assert.True(firstDay.Acquire(1, Utc(1, 1, 1, 5)).Allowed);

        var firstWeek = Quota("Etc/GMT+5", CalendarPeriod.Week, firstDay: DayOfWeek.Sunday);
        Assert.True(firstWeek.Acquire(1, DateTimeOffset.MinValue).Allowed);
        Assert.Equal(TimeSpan.FromDays(6) + TimeSpan.FromHours(5), firstWeek.Acquire(1, DateTimeOffset.MinValue).RetryAfter);
    }
}
