using System.Collections.Concurrent;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Quota.Http.Tests.Infrastructure;

/// <summary>One span as an OTLP/HTTP exporter sent it.</summary>
public sealed record ReceivedSpan(
    string Scope,
    string TraceId,
    string SpanId,
    string ParentSpanId,
    string Name,
    int Kind,
    IReadOnlyDictionary<string, string> Attributes,
    IReadOnlyDictionary<string, string> Resource);

/// <summary>
/// An OTLP/HTTP trace receiver (<c>POST /v1/traces</c>, protobuf) on a loopback port, in the test process: what a
/// collector would be given. It reads the fields of the OTLP trace protocol it needs (opentelemetry-proto's
/// <c>trace/v1/trace.proto</c>: resource spans, scope spans, spans with ids, parent, name, kind and attributes) with a
/// small protobuf wire reader, skipping every other field as protobuf allows.
/// </summary>
public sealed class OtlpReceiver : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ConcurrentQueue<ReceivedSpan> _spans = new();
    private readonly SemaphoreSlim _arrived = new(0);

    private OtlpReceiver(WebApplication app) => _app = app;

    /// <summary>Where to point <c>Quota:Telemetry:OtlpEndpoint</c>.</summary>
    public Uri Endpoint => new(_app.Urls.Single());

    /// <summary>Every span received so far.</summary>
    public IReadOnlyCollection<ReceivedSpan> Spans => _spans.ToArray();

    public static async Task<OtlpReceiver> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var receiver = new OtlpReceiver(app);
        app.MapPost("/v1/traces", async (HttpContext context) =>
        {
            using var body = new MemoryStream();
            await context.Request.Body.CopyToAsync(body, context.RequestAborted);
            receiver.Read(body.ToArray());
            return Results.Bytes([], "application/x-protobuf");
        });
        await app.StartAsync();
        return receiver;
    }

    /// <summary>Waits until a span matching <paramref name="wanted"/> has arrived, or <paramref name="timeout"/> has passed.</summary>
    public async Task<bool> WaitForAsync(Func<ReceivedSpan, bool> wanted, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!_spans.Any(wanted))
        {
            var left = deadline - DateTime.UtcNow;
            if (left <= TimeSpan.Zero)
            {
                return false;
            }

            await _arrived.WaitAsync(left);
        }

        return true;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
        _arrived.Dispose();
    }

    private void Read(byte[] request)
    {
        // ExportTraceServiceRequest: 1 resource_spans.
        foreach (var resourceSpans in Fields(request).Where(f => f.Number == 1).Select(f => f.Bytes!))
        {
            var fields = Fields(resourceSpans).ToList();

            // ResourceSpans: 1 resource (Resource: 1 attributes), 2 scope_spans.
            var resource = fields.Where(f => f.Number == 1).SelectMany(f => Attributes(f.Bytes!, 1)).ToDictionary();
            foreach (var scopeSpans in fields.Where(f => f.Number == 2).Select(f => f.Bytes!))
            {
                // ScopeSpans: 1 scope (InstrumentationScope: 1 name), 2 spans.
                var scopeFields = Fields(scopeSpans).ToList();
                var scope = scopeFields.Where(f => f.Number == 1).SelectMany(f => Fields(f.Bytes!)).Where(f => f.Number == 1).Select(f => Encoding.UTF8.GetString(f.Bytes!)).FirstOrDefault() ?? "";
                foreach (var span in scopeFields.Where(f => f.Number == 2).Select(f => f.Bytes!))
                {
                    // Span: 1 trace_id, 2 span_id, 4 parent_span_id, 5 name, 6 kind, 9 attributes.
                    var s = Fields(span).ToList();
                    string Hex(int number) => Convert.ToHexString(s.FirstOrDefault(f => f.Number == number).Bytes ?? []).ToLowerInvariant();
                    _spans.Enqueue(new ReceivedSpan(
                        scope,
                        Hex(1),
                        Hex(2),
                        Hex(4),
                        Encoding.UTF8.GetString(s.FirstOrDefault(f => f.Number == 5).Bytes ?? []),
                        (int)s.FirstOrDefault(f => f.Number == 6).Varint,
                        Attributes(span, 9).ToDictionary(),
                        resource));
                    _arrived.Release();
                }
            }
        }
    }

    /// <summary>KeyValue fields (1 key, 2 AnyValue: 1 string, 2 bool, 3 int, 4 double) of a message, values as text.</summary>
    private static IEnumerable<KeyValuePair<string, string>> Attributes(byte[] message, int number)
    {
        foreach (var pair in Fields(message).Where(f => f.Number == number).Select(f => f.Bytes!))
        {
            var kv = Fields(pair).ToList();
            var key = Encoding.UTF8.GetString(kv.FirstOrDefault(f => f.Number == 1).Bytes ?? []);
            var any = Fields(kv.FirstOrDefault(f => f.Number == 2).Bytes ?? []).FirstOrDefault();
            var value = any.Number switch
            {
                1 => Encoding.UTF8.GetString(any.Bytes!),
                2 => any.Varint != 0 ? "true" : "false",
                3 => ((long)any.Varint).ToString(System.Globalization.CultureInfo.InvariantCulture),
                4 => BitConverter.Int64BitsToDouble((long)any.Varint).ToString(System.Globalization.CultureInfo.InvariantCulture),
                _ => "",
            };
            yield return new(key, value);
        }
    }

    /// <summary>A message's fields: number, and a varint or fixed value, or the bytes of a length-delimited one.</summary>
    private static IEnumerable<(int Number, ulong Varint, byte[]? Bytes)> Fields(byte[] message)
    {
        var at = 0;
        while (at < message.Length)
        {
            var tag = ReadVarint(message, ref at);
            var number = (int)(tag >> 3);
            switch ((int)(tag & 7))
            {
                case 0:
                    yield return (number, ReadVarint(message, ref at), null);
                    break;
                case 1:
                    yield return (number, BitConverter.ToUInt64(message, at), null);
                    at += 8;
                    break;
                case 2:
                    var length = (int)ReadVarint(message, ref at);
                    yield return (number, 0, message[at..(at + length)]);
                    at += length;
                    break;
                case 5:
                    yield return (number, BitConverter.ToUInt32(message, at), null);
                    at += 4;
                    break;
                default:
                    throw new InvalidDataException($"Unsupported protobuf wire type {tag & 7} in field {number}.");
            }
        }
    }

    private static ulong ReadVarint(byte[] message, ref int at)
    {
        ulong value = 0;
        for (var shift = 0; ; shift += 7)
        {
            var b = message[at++];
            value |= (ulong)(b & 0x7f) << shift;
            if ((b & 0x80) == 0)
            {
                return value;
            }
        }
    }
}
