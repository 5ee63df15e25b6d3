using System.Collections;
using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace Quota.Outbound.Tests;

/// <summary>
/// A logger provider that keeps everything logged at every level: the formatted message, every structured value, every
/// scope and the exception, so a test can search it for a secret.
/// </summary>
public sealed class CapturedLogs : ILoggerProvider
{
    private readonly ConcurrentQueue<string> _entries = new();

    /// <summary>Every entry so far, one string each (category, level, message, values, scopes, exception).</summary>
    public IReadOnlyCollection<string> Entries => _entries.ToArray();

    /// <summary>The entries that contain <paramref name="text"/>.</summary>
    public IReadOnlyList<string> Containing(string text) => [.. _entries.Where(e => e.Contains(text, StringComparison.Ordinal))];

    public ILogger CreateLogger(string categoryName) => new Logger(categoryName, this);

    public void Dispose()
    {
    }

    private static string Flatten(object? state) => state switch
    {
        null => "",
        string text => text,
        IEnumerable<KeyValuePair<string, object?>> values => string.Join(" ", values.Select(v => $"{v.Key}={Flatten(v.Value)}")) + " " + state,
        IEnumerable items => string.Join(",", items.Cast<object?>().Select(Flatten)),
        _ => state.ToString() ?? "",
    };

    private sealed class Logger(string category, CapturedLogs logs) : ILogger
    {
        private readonly AsyncLocal<ImmutableStack?> _scopes = new();

        public IDisposable BeginScope<TState>(TState state)
            where TState : notnull
        {
            var outer = _scopes.Value;
            _scopes.Value = new ImmutableStack(Flatten(state), outer);
            return new Scope(() => _scopes.Value = outer);
        }

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            var scopes = new List<string>();
            for (var scope = _scopes.Value; scope is not null; scope = scope.Outer)
            {
                scopes.Add(scope.Text);
            }

            logs._entries.Enqueue($"{category} {logLevel} {formatter(state, exception)} | {Flatten(state)} | scopes: {string.Join(" / ", scopes)} | {exception}");
        }
    }

    private sealed record ImmutableStack(string Text, ImmutableStack? Outer);

    private sealed class Scope(Action end) : IDisposable
    {
        public void Dispose() => end();
    }
}
