using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Options;
using Quota.Grains;

namespace Quota.Server.Admin;

/// <summary>
/// Counts failed admin credentials per source address and locks a source out for the rest of its window once it has
/// failed <see cref="AdminOptions.MaxFailures"/> times. IPv6 sources count per /64 (one host's share of a network);
/// IPv4-mapped addresses as IPv4. The table is bounded by <see cref="Capacity"/>: a full table first drops windows that
/// have ended, then the oldest. Checking an address that never failed is one dictionary read.
/// </summary>
internal sealed class AdminThrottle(IOptions<AdminOptions> options, QuotaTime time)
{
    /// <summary>The most sources tracked at once (about 100 bytes each).</summary>
    internal const int Capacity = 10_000;

    private readonly ConcurrentDictionary<IPAddress, Window> _sources = new();
    private readonly Lock _write = new();
    private readonly int _maxFailures = options.Value.MaxFailures;
    private readonly TimeSpan _window = options.Value.FailureWindow;

    /// <summary>The sources tracked now (for tests).</summary>
    internal int Count => _sources.Count;

    /// <summary>How long <paramref name="remote"/> is still locked out, or null when it may try.</summary>
    public TimeSpan? LockedOut(IPAddress? remote)
    {
        if (!_sources.TryGetValue(Source(remote), out var window) || window.Failures < _maxFailures)
        {
            return null;
        }

        var left = window.Start + _window - time.Provider.GetUtcNow();
        return left > TimeSpan.Zero ? left : null;
    }

    /// <summary>Counts a failed credential from <paramref name="remote"/>; true when this failure locked it out.</summary>
    public bool Failed(IPAddress? remote)
    {
        var source = Source(remote);
        var now = time.Provider.GetUtcNow();
        lock (_write)
        {
            var window = _sources.TryGetValue(source, out var current) && now - current.Start < _window
                ? current with { Failures = current.Failures + 1 }
                : new Window(now, 1);
            if (!_sources.ContainsKey(source) && _sources.Count >= Capacity)
            {
                MakeRoom(now);
            }

            _sources[source] = window;
            return window.Failures == _maxFailures;
        }
    }

    private void MakeRoom(DateTimeOffset now)
    {
        foreach (var (address, window) in _sources)
        {
            if (now - window.Start >= _window)
            {
                _sources.TryRemove(address, out _);
            }
        }

        if (_sources.Count >= Capacity)
        {
            // Every window is live: the oldest has the least of it left to serve.
            var oldest = _sources.MinBy(pair => pair.Value.Start).Key;
            _sources.TryRemove(oldest, out _);
        }
    }

    /// <summary>The key a remote address counts under.</summary>
    internal static IPAddress Source(IPAddress? remote)
    {
        if (remote is null)
        {
            return IPAddress.None;
        }

        if (remote.IsIPv4MappedToIPv6)
        {
            return remote.MapToIPv4();
        }

        if (remote.AddressFamily != AddressFamily.InterNetworkV6 || IPAddress.IsLoopback(remote))
        {
            return remote;
        }

        Span<byte> bytes = stackalloc byte[16];
        remote.TryWriteBytes(bytes, out _);
        bytes[8..].Clear();
        return new IPAddress(bytes);
    }

    private readonly record struct Window(DateTimeOffset Start, int Failures);
}
