using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;

namespace Quota.Http.Tests.Infrastructure;

/// <summary>
/// HTTP/1.1 written byte by byte over a socket, for what HttpClient will not send: conflicting framing headers, bad
/// chunks, a body shorter than declared, a body that stops arriving.
/// </summary>
public static class RawHttp
{
    /// <summary>The longest a raw exchange may take before the test fails rather than hangs.</summary>
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Sends <paramref name="head"/> (request line and headers, without the blank line) and <paramref name="body"/>,
    /// optionally half-closes the connection (the client sends nothing more), and reads the answer until the server
    /// closes the connection or a whole response has arrived.
    /// </summary>
    public static async Task<RawReply> SendAsync(Uri server, string head, string body, bool halfClose = false)
    {
        using var client = new TcpClient();
        using var timeout = new CancellationTokenSource(Timeout);
        await client.ConnectAsync(server.Host, server.Port, timeout.Token);
        var stream = client.GetStream();
        await stream.WriteAsync(Encoding.UTF8.GetBytes($"{head}\r\n\r\n{body}"), timeout.Token);
        if (halfClose)
        {
            client.Client.Shutdown(SocketShutdown.Send);
        }

        var received = new MemoryStream();
        var buffer = new byte[8192];
        try
        {
            int read;
            while ((read = await stream.ReadAsync(buffer, timeout.Token)) > 0)
            {
                received.Write(buffer, 0, read);
                if (RawReply.TryParse(received.ToArray(), out _))
                {
                    break;
                }
            }
        }
        catch (IOException)
        {
            // The server may reset the connection after its answer; what arrived is the answer.
        }

        return RawReply.TryParse(received.ToArray(), out var reply) ? reply! : new RawReply(0, string.Empty, Encoding.UTF8.GetString(received.ToArray()));
    }
}

/// <summary>A raw answer: the status (0 when none came), the headers as text and the (de-chunked) body.</summary>
public sealed record RawReply(int Status, string Headers, string Body)
{
    /// <summary>Asserts an RFC 9457 problem with <paramref name="status"/> naming <paramref name="field"/>; returns it.</summary>
    public JsonObject ExpectProblem(HttpStatusCode status, string field)
    {
        Assert.True((int)status == Status, $"Expected HTTP {(int)status}, got {Status}.{Environment.NewLine}{Headers}{Environment.NewLine}{Body}");
        Assert.Contains("content-type: application/problem+json", Headers, StringComparison.OrdinalIgnoreCase);
        var json = JsonNode.Parse(Body)!.AsObject();
        Assert.Equal((int)status, json["status"]!.GetValue<int>());
        Assert.Equal(field, json["field"]!.GetValue<string>());
        return json;
    }

    internal static bool TryParse(byte[] data, out RawReply? reply)
    {
        reply = null;
        var text = Encoding.UTF8.GetString(data);
        var end = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
        if (end < 0 || !int.TryParse(text.AsSpan(9, 3), out var status))
        {
            return false;
        }

        var headers = text[..end];
        var rest = text[(end + 4)..];
        if (headers.Contains("transfer-encoding: chunked", StringComparison.OrdinalIgnoreCase))
        {
            var body = new StringBuilder();
            while (true)
            {
                var line = rest.IndexOf("\r\n", StringComparison.Ordinal);
                if (line < 0)
                {
                    return false;
                }

                var size = Convert.ToInt32(rest[..line].Split(';')[0], 16);
                if (size == 0)
                {
                    reply = new RawReply(status, headers, body.ToString());
                    return true;
                }

                if (rest.Length < line + 2 + size + 2)
                {
                    return false;
                }

                body.Append(rest, line + 2, size);
                rest = rest[(line + 2 + size + 2)..];
            }
        }

        var length = System.Text.RegularExpressions.Regex.Match(headers, @"(?im)^content-length:\s*(\d+)");
        if (length.Success && rest.Length < int.Parse(length.Groups[1].Value))
        {
            return false;
        }

        reply = new RawReply(status, headers, rest);
        return true;
    }
}
