using System.Net;
using System.Net.Sockets;

namespace Quota.Http.Tests.Infrastructure;

/// <summary>
/// HTTP clients that connect from a chosen loopback address (127.0.0.2, 127.0.0.3, …): every address in 127/8 is this
/// machine, so a test can be several sources at once, as the per-source throttle sees them.
/// </summary>
public static class Sources
{
    /// <summary>The API of <paramref name="host"/> reached from <paramref name="local"/>, sending <paramref name="authorization"/>.</summary>
    public static QuotaApi From(SiloFixture host, string local, string? authorization) =>
        new(Client(host.BaseAddress, local), authorization);

    /// <summary>An <see cref="HttpClient"/> on <paramref name="baseAddress"/> whose connections leave from <paramref name="local"/>.</summary>
    public static HttpClient Client(Uri baseAddress, string local, bool allowRedirects = true)
    {
        var from = IPAddress.Parse(local);
        var handler = new SocketsHttpHandler
        {
            AllowAutoRedirect = allowRedirects,
            UseCookies = false,
            ConnectCallback = async (context, cancellationToken) =>
            {
                var socket = new Socket(from.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                try
                {
                    socket.Bind(new IPEndPoint(from, 0));
                    await socket.ConnectAsync(context.DnsEndPoint, cancellationToken);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            },
        };
        return new HttpClient(handler) { BaseAddress = baseAddress, Timeout = TimeSpan.FromSeconds(30) };
    }
}
