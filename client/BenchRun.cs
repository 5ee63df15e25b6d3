using System.Buffers;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Text.Json;

namespace Quota.Cli;

/// <summary>What <c>quota bench</c> was asked to do, already validated.</summary>
internal sealed record BenchSettings
{
    /// <summary>Requests in flight, 1 to <see cref="MaxWorkers"/>.</summary>
    public required int Workers { get; init; }

    /// <summary>Distinct ordinary users, 1 to <see cref="MaxKeys"/>.</summary>
    public required int Keys { get; init; }

    /// <summary>The share of requests naming the hot user instead of an ordinary one, 0 to 1.</summary>
    public required double HotShare { get; init; }

    /// <summary>Subjects per request: 1 (the user), 2 (and a resource) or 3 (and two resources).</summary>
    public required int Subjects { get; init; }

    /// <summary>Permits each request asks for, at least 1.</summary>
    public required long Cost { get; init; }

    /// <summary>How long is measured, after the warmup.</summary>
    public required TimeSpan Duration { get; init; }

    /// <summary>How long requests are sent before measuring starts; their answers still count against the limits.</summary>
    public required TimeSpan Warmup { get; init; }

    /// <summary>Every subject is named <c>{Prefix}-…</c>: <c>bench-{run id}</c>, or <c>--prefix</c>.</summary>
    public required string Prefix { get; init; }

    /// <summary>Whether <see cref="Prefix"/> came from <c>--prefix</c> (and may be shared with earlier runs).</summary>
    public required bool PrefixGiven { get; init; }

    public const int MaxWorkers = 4096;
    public const int MaxKeys = 1_000_000;
}

/// <summary>
/// The subjects a run names, each with a slot for its tallies: users <c>{prefix}-{i}</c> (0 ≤ i &lt; keys) and
/// <c>{prefix}-hot</c>; with 2 subjects per request also resource <c>{prefix}-r{i % 100}</c>, with 3 also
/// resource <c>{prefix}-g{i % 10}</c>. A request for key i names resources by the same i; a hot request names
/// the hot user and the resources of a key picked at random.
/// </summary>
internal sealed class BenchSubjects
{
    /// <summary>How many distinct first resources (<c>-r</c>) there are at most.</summary>
    public const int FirstResources = 100;

    /// <summary>How many distinct second resources (<c>-g</c>) there are at most.</summary>
    public const int SecondResources = 10;

    private readonly string _prefix;
    private readonly int _keys;
    private readonly int _users;
    private readonly int _first;
    private readonly int _second;

    public BenchSubjects(BenchSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        _prefix = settings.Prefix;
        _keys = settings.Keys;
        _users = settings.Keys + (settings.HotShare > 0 ? 1 : 0);
        _first = settings.Subjects >= 2 ? Math.Min(settings.Keys, FirstResources) : 0;
        _second = settings.Subjects >= 3 ? Math.Min(settings.Keys, SecondResources) : 0;
    }

    /// <summary>How many slots there are: users, then first resources, then second resources.</summary>
    public int Count => _users + _first + _second;

    /// <summary>The name of the subject in <paramref name="slot"/>.</summary>
    public string Name(int slot) => slot switch
    {
        _ when slot < _keys => $"{_prefix}-{slot.ToString(CultureInfo.InvariantCulture)}",
        _ when slot < _users => $"{_prefix}-hot",
        _ when slot < _users + _first => $"{_prefix}-r{(slot - _users).ToString(CultureInfo.InvariantCulture)}",
        _ => $"{_prefix}-g{(slot - _users - _first).ToString(CultureInfo.InvariantCulture)}",
    };

    /// <summary>The subject's label as answers name it: <c>user:{name}</c> or <c>resource:{name}</c>.</summary>
    public string Label(int slot) => (IsUser(slot) ? "user:" : "resource:") + Name(slot);

    /// <summary>Whether <paramref name="slot"/> holds a user (else a resource).</summary>
    public bool IsUser(int slot) => slot < _users;

    /// <summary>Writes the slots one request names into <paramref name="slots"/>; returns how many.</summary>
    /// <param name="key">The key picked, 0 ≤ key &lt; keys; it also picks the resources.</param>
    /// <param name="hot">Whether the request names the hot user instead of the key's.</param>
    /// <param name="slots">Room for 3.</param>
    public int Pick(int key, bool hot, Span<int> slots)
    {
        var count = 0;
        slots[count++] = hot ? _keys : key;
        if (_first > 0)
        {
            slots[count++] = _users + (key % FirstResources);
        }

        if (_second > 0)
        {
            slots[count++] = _users + _first + (key % SecondResources);
        }

        return count;
    }

    /// <summary>The <c>POST /v1/acquire</c> body naming <paramref name="slots"/> (the user first) for <paramref name="cost"/> permits.</summary>
    public ReadOnlyMemory<byte> Body(ReadOnlySpan<int> slots, long cost)
    {
        var buffer = new ArrayBufferWriter<byte>(128);
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("user", Name(slots[0]));
            if (slots.Length > 1)
            {
                json.WriteStartArray("resources");
                foreach (var slot in slots[1..])
                {
                    json.WriteStringValue(Name(slot));
                }

                json.WriteEndArray();
            }

            json.WriteNumber("cost", cost);
            json.WriteEndObject();
        }

        return buffer.WrittenMemory;
    }
}

/// <summary>One policy that denied one subject: its limit and window as the first such denial reported.</summary>
internal sealed class DenyingPolicy(string algorithm, long limit, long? windowSeconds)
{
    public string Algorithm { get; } = algorithm;

    public long Limit { get; } = limit;

    public long? WindowSeconds { get; } = windowSeconds;
}

/// <summary>The first few distinct errors of a run, each with how often it occurred; any others are counted together.</summary>
internal sealed class ErrorKinds(int capacity)
{
    private readonly Lock _lock = new();
    private readonly List<(string Message, long Count)> _kinds = [];
    private long _other;

    public void Add(string message)
    {
        lock (_lock)
        {
            var index = _kinds.FindIndex(kind => kind.Message == message);
            if (index >= 0)
            {
                _kinds[index] = (message, _kinds[index].Count + 1);
            }
            else if (_kinds.Count < capacity)
            {
                _kinds.Add((message, 1));
            }
            else
            {
                _other++;
            }
        }
    }

    /// <summary>The distinct errors in the order they first occurred, and how many errors were of other kinds.</summary>
    public (IReadOnlyList<(string Message, long Count)> Kinds, long Other) Snapshot()
    {
        lock (_lock)
        {
            return ([.. _kinds], _other);
        }
    }
}

/// <summary>Counts of answers: admitted (200), denied (429) and errors (anything else, or no answer).</summary>
internal readonly record struct BenchCounts(long Admitted, long Denied, long Errors)
{
    public long Requests => Admitted + Denied + Errors;

    public long Decisions => Admitted + Denied;
}

/// <summary>What the run looks like now, for the progress line.</summary>
internal readonly record struct BenchProgress(TimeSpan Elapsed, bool Warmup, BenchCounts Run);

/// <summary>
/// One closed-loop run against <c>POST /v1/acquire</c>: <see cref="BenchSettings.Workers"/> loops, each sending its
/// next request when the previous answer has arrived, for the warmup and then the measured duration. Requests sent
/// in the measured phase and answered before it ended are measured (counts and latency); every answer of the run,
/// warmup and the last requests in flight included, counts in the per-subject tallies, because the service's limits
/// counted them too.
/// </summary>
internal sealed class BenchRun
{
    private static readonly MediaTypeHeaderValue JsonType = new("application/json");

    private readonly BenchSettings _settings;
    private readonly BenchSubjects _subjects;
    private readonly HttpClient _http;
    private readonly TimeSpan _timeout;
    private readonly long[] _admittedBySlot;
    private readonly long[] _deniedBySlot;
    private readonly ConcurrentDictionary<(int Slot, string Policy), DenyingPolicy> _denying = new();
    private long _start;
    private long _measureFrom;
    private long _measureTo;

    // The measured phase and the whole run.
    private long _admitted;
    private long _denied;
    private long _errors;
    private long _runAdmitted;
    private long _runDenied;
    private long _runErrors;
    private long _runTransportErrors;
    private long _runUnknownSubjects;
    private long _end;

    public BenchRun(BenchSettings settings, BenchSubjects subjects, HttpClient http, TimeSpan timeout)
    {
        _settings = settings;
        _subjects = subjects;
        _http = http;
        _timeout = timeout;
        _admittedBySlot = new long[subjects.Count];
        _deniedBySlot = new long[subjects.Count];
    }

    /// <summary>Latencies of the measured requests, from sending to the whole answer read.</summary>
    public LatencyHistogram Latency { get; } = new();

    /// <summary>The first few distinct errors of the whole run.</summary>
    public ErrorKinds ErrorKinds { get; } = new(5);

    /// <summary>When the run started, by this machine's clock (for windows aligned to the Unix epoch).</summary>
    public DateTimeOffset StartedAt { get; private set; }

    /// <summary>From the first request sent to the last answer received.</summary>
    public TimeSpan Span => Stopwatch.GetElapsedTime(_start, _end);

    /// <summary>How long was measured: the duration, or less when the run was cancelled before it ended.</summary>
    public TimeSpan Measured { get; private set; }

    /// <summary>Whether the run was cancelled (Ctrl+C) before its end.</summary>
    public bool Cancelled { get; private set; }

    /// <summary>Answers of the measured phase.</summary>
    public BenchCounts MeasuredCounts => new(Interlocked.Read(ref _admitted), Interlocked.Read(ref _denied), Interlocked.Read(ref _errors));

    /// <summary>Answers of the whole run.</summary>
    public BenchCounts RunCounts => new(Interlocked.Read(ref _runAdmitted), Interlocked.Read(ref _runDenied), Interlocked.Read(ref _runErrors));

    /// <summary>Errors of the whole run where no answer came (refused, reset, timed out).</summary>
    public long TransportErrors => Interlocked.Read(ref _runTransportErrors);

    /// <summary>Answers of the whole run that were 404: a named subject is unknown (a resource without a policy).</summary>
    public long UnknownSubjects => Interlocked.Read(ref _runUnknownSubjects);

    /// <summary>Requests admitted that named this slot's subject, over the whole run.</summary>
    public long AdmittedOf(int slot) => Interlocked.Read(ref _admittedBySlot[slot]);

    /// <summary>Requests this slot's subject denied, over the whole run.</summary>
    public long DeniedOf(int slot) => Interlocked.Read(ref _deniedBySlot[slot]);

    /// <summary>Every (slot, policy) that denied, with the policy's limit as reported.</summary>
    public IEnumerable<KeyValuePair<(int Slot, string Policy), DenyingPolicy>> Denying => _denying;

    /// <summary>Runs the warmup and the measured phase; calls <paramref name="progress"/> once a second.</summary>
    public async Task RunAsync(Action<BenchProgress> progress, CancellationToken ct)
    {
        StartedAt = DateTimeOffset.UtcNow;
        _start = Stopwatch.GetTimestamp();
        _measureFrom = _start + StopwatchTicks(_settings.Warmup);
        _measureTo = _measureFrom + StopwatchTicks(_settings.Duration);

        var workers = Task.WhenAll(Enumerable.Range(0, _settings.Workers).Select(_ => Task.Run(() => WorkAsync(ct), CancellationToken.None)));
        using (var timer = new PeriodicTimer(TimeSpan.FromSeconds(1)))
        {
            while (await Task.WhenAny(workers, timer.WaitForNextTickAsync(CancellationToken.None).AsTask()) != workers)
            {
                var elapsed = Stopwatch.GetElapsedTime(_start);
                progress(new BenchProgress(elapsed, elapsed < _settings.Warmup, RunCounts));
            }
        }

        await workers;
        _end = Stopwatch.GetTimestamp();
        Cancelled = ct.IsCancellationRequested;
        Measured = Cancelled
            ? TimeSpan.FromTicks(Math.Max(0, Stopwatch.GetElapsedTime(_measureFrom, Math.Min(_end, _measureTo)).Ticks))
            : _settings.Duration;
    }

    private static long StopwatchTicks(TimeSpan span) => (long)(span.TotalSeconds * Stopwatch.Frequency);

    private async Task WorkAsync(CancellationToken ct)
    {
        var slots = new int[3];
        while (!ct.IsCancellationRequested)
        {
            var hot = _settings.HotShare > 0 && Random.Shared.NextDouble() < _settings.HotShare;
            var count = _subjects.Pick(Random.Shared.Next(_settings.Keys), hot, slots);
            var body = _subjects.Body(slots.AsSpan(0, count), _settings.Cost);
            var sent = Stopwatch.GetTimestamp();
            if (sent >= _measureTo)
            {
                return;
            }

            int status;
            byte[]? answer = null;
            string? failure = null;
            try
            {
                using var request = new HttpRequestMessage(HttpMethod.Post, "v1/acquire") { Content = new ReadOnlyMemoryContent(body) };
                request.Content.Headers.ContentType = JsonType;
                using var response = await _http.SendAsync(request, ct);
                status = (int)response.StatusCode;
                if (status != 200)
                {
                    answer = await response.Content.ReadAsByteArrayAsync(ct);
                }
            }
            catch (HttpRequestException e)
            {
                status = 0;
                failure = Session.Describe(e);
            }
            catch (TaskCanceledException) when (!ct.IsCancellationRequested)
            {
                status = 0;
                failure = $"no answer within {_timeout.TotalSeconds:0} s";
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return;
            }

            var done = Stopwatch.GetTimestamp();
            var measured = sent >= _measureFrom && done <= _measureTo;
            switch (status)
            {
                case 200:
                    Interlocked.Increment(ref _runAdmitted);
                    for (var i = 0; i < count; i++)
                    {
                        Interlocked.Increment(ref _admittedBySlot[slots[i]]);
                    }

                    if (measured)
                    {
                        Interlocked.Increment(ref _admitted);
                    }

                    break;
                case 429:
                    Interlocked.Increment(ref _runDenied);
                    CountDenial(slots.AsSpan(0, count), answer!);
                    if (measured)
                    {
                        Interlocked.Increment(ref _denied);
                    }

                    break;
                default:
                    Interlocked.Increment(ref _runErrors);
                    if (status == 0)
                    {
                        Interlocked.Increment(ref _runTransportErrors);
                    }
                    else if (status == 404)
                    {
                        Interlocked.Increment(ref _runUnknownSubjects);
                    }

                    ErrorKinds.Add(failure ?? Describe(status, answer!));
                    if (measured)
                    {
                        Interlocked.Increment(ref _errors);
                    }

                    break;
            }

            if (measured)
            {
                Latency.Record(Stopwatch.GetElapsedTime(sent, done));
            }
        }
    }

    /// <summary>Attributes a denial to the subject <c>limitedBy</c> names, one of those the request named.</summary>
    private void CountDenial(ReadOnlySpan<int> slots, byte[] body)
    {
        try
        {
            using var document = JsonDocument.Parse(body);
            var root = document.RootElement;
            if (!root.TryGetProperty("limitedBy", out var by) || by.ValueKind != JsonValueKind.String)
            {
                return;
            }

            var limitedBy = by.GetString()!;
            foreach (var slot in slots)
            {
                // "user:bench-1/per-minute" is user bench-1's, not bench-12's: the label must end at the '/'.
                var label = _subjects.Label(slot);
                if (limitedBy.Length <= label.Length + 1 || limitedBy[label.Length] != '/' || !limitedBy.StartsWith(label, StringComparison.Ordinal))
                {
                    continue;
                }

                Interlocked.Increment(ref _deniedBySlot[slot]);
                var key = (slot, limitedBy[(label.Length + 1)..]);
                if (!_denying.ContainsKey(key))
                {
                    _denying.TryAdd(key, ReadPolicy(root, label, key.Item2));
                }

                return;
            }
        }
        catch (JsonException)
        {
            // A 429 whose body is not the decision JSON (a proxy's, say) is still a denial; it names no subject.
        }
    }

    /// <summary>The denying policy's limit and window from the answer's <c>policies</c>; the answer's <c>limit</c> if it is not listed.</summary>
    private static DenyingPolicy ReadPolicy(JsonElement root, string label, string name)
    {
        if (root.TryGetProperty("policies", out var policies) && policies.ValueKind == JsonValueKind.Array)
        {
            foreach (var state in policies.EnumerateArray())
            {
                if (state.ValueKind == JsonValueKind.Object
                    && Text(state, "subject") == label
                    && Text(state, "policy") == name)
                {
                    return new DenyingPolicy(
                        Text(state, "algorithm") ?? "unknown",
                        Number(state, "limit") ?? 0,
                        Number(state, "windowSeconds"));
                }
            }
        }

        return new DenyingPolicy("unknown", Number(root, "limit") ?? 0, null);
    }

    private static string? Text(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    private static long? Number(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.Number && value.TryGetInt64(out var number) ? number : null;

    /// <summary>An error answer in one line: status, the problem's title and detail (or the start of the body).</summary>
    private static string Describe(int status, byte[] body)
    {
        string? title = null;
        string? detail = null;
        try
        {
            using var document = JsonDocument.Parse(body);
            if (document.RootElement.ValueKind == JsonValueKind.Object)
            {
                title = Text(document.RootElement, "title");
                detail = Text(document.RootElement, "detail");
            }
        }
        catch (JsonException)
        {
            detail = System.Text.Encoding.UTF8.GetString(body, 0, Math.Min(body.Length, 200)).Trim();
        }

        var text = $"HTTP {status.ToString(CultureInfo.InvariantCulture)}";
        if (title is not null)
        {
            text += " " + title;
        }

        return detail is { Length: > 0 } ? $"{text}: {detail}" : text;
    }
}
