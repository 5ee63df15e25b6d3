using System.Collections;
using System.ComponentModel;
using System.Reflection;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Quota.Grains.Configuration;

namespace Quota.Server.Hosting;

/// <summary>
/// Every problem with the silo's configuration, found before anything starts, each once, in plain words (the key,
/// the value when it is not secret, and what to write instead). Two passes: values that cannot be read as their
/// setting's type at all (what the configuration binder would throw on, one at a time, with a stack trace), then every
/// options class's validator. The options classes are found, not listed: every type in Quota's assemblies with a
/// <c>SectionName</c> constant, so a new one is checked without being named here.
/// </summary>
internal static class ConfigurationCheck
{
    private const int MaxNesting = 8;

    /// <summary>Every options class: its type and section.</summary>
    public static IReadOnlyList<(Type Type, string Section)> OptionsClasses { get; } =
        [.. new[] { typeof(ConfigurationCheck).Assembly, typeof(LimitsOptions).Assembly }
            .SelectMany(assembly => assembly.GetExportedTypes())
            .Select(type => (Type: type, Field: type.GetField("SectionName", BindingFlags.Public | BindingFlags.Static)))
            .Where(t => t.Field is { IsLiteral: true } && t.Field.FieldType == typeof(string) && t.Type.IsClass && !t.Type.IsAbstract)
            .Select(t => (t.Type, (string)t.Field!.GetRawConstantValue()!))
            .OrderBy(t => t.Item2, StringComparer.Ordinal)
            .ThenBy(t => t.Type.Name, StringComparer.Ordinal)];

    /// <summary>
    /// Values that cannot be read as their setting's type, for every options class; <paramref name="unreadable"/>
    /// gets the classes concerned (their validators cannot run: binding them throws).
    /// </summary>
    public static List<string> UnreadableValues(IConfiguration configuration, out HashSet<Type> unreadable)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var problems = new List<string>();
        unreadable = [];
        var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var (type, section) in OptionsClasses)
        {
            var before = problems.Count;
            CheckObject(configuration.GetSection(section), type, problems, seen, 0);
            if (problems.Count > before)
            {
                unreadable.Add(type);
            }
        }

        return problems;
    }

    /// <summary>
    /// Every validation failure of every options class but <paramref name="skip"/> (whose values could not be read), then of
    /// anything else registered to be validated at start; each message once.
    /// </summary>
    public static List<string> InvalidValues(IServiceProvider services, IReadOnlySet<Type> skip)
    {
        ArgumentNullException.ThrowIfNull(services);
        var problems = new List<string>();
        foreach (var type in OptionsClasses.Select(c => c.Type).Distinct().Where(t => !skip.Contains(t)))
        {
            try
            {
                var options = services.GetRequiredService(typeof(IOptions<>).MakeGenericType(type));
                _ = options.GetType().GetProperty(nameof(IOptions<object>.Value))!.GetValue(options);
            }
            catch (TargetInvocationException e) when (e.InnerException is OptionsValidationException failed)
            {
                problems.AddRange(failed.Failures);
            }
            catch (TargetInvocationException e) when (e.InnerException is InvalidOperationException failed)
            {
                // A value the first pass did not foresee: the binder's own message is one line and names the key.
                problems.Add(failed.Message);
            }
        }

        if (problems.Count == 0 && services.GetService<IStartupValidator>() is { } startup)
        {
            // Anything else registered with ValidateOnStart (options that are not Quota's own).
            try
            {
                startup.Validate();
            }
            catch (OptionsValidationException failed)
            {
                problems.AddRange(failed.Failures);
            }
            catch (AggregateException failed)
            {
                problems.AddRange(failed.InnerExceptions.OfType<OptionsValidationException>().SelectMany(e => e.Failures));
            }
        }

        return [.. problems.Distinct(StringComparer.Ordinal)];
    }

    private static void CheckObject(IConfigurationSection section, Type type, List<string> problems, HashSet<string> seen, int nesting)
    {
        if (nesting > MaxNesting || !section.GetChildren().Any())
        {
            return;
        }

        foreach (var property in type.GetProperties(BindingFlags.Public | BindingFlags.Instance))
        {
            if (property.GetIndexParameters().Length == 0 && (property.SetMethod is { IsPublic: true } || IsCollection(property.PropertyType, out _)))
            {
                CheckValue(section.GetSection(property.Name), property.PropertyType, problems, seen, nesting + 1);
            }
        }
    }

    private static void CheckValue(IConfigurationSection section, Type type, List<string> problems, HashSet<string> seen, int nesting)
    {
        var target = Nullable.GetUnderlyingType(type) ?? type;
        if (target == typeof(string) || target == typeof(object))
        {
            return;
        }

        if (IsCollection(target, out var element))
        {
            foreach (var child in section.GetChildren())
            {
                CheckValue(child, element!, problems, seen, nesting + 1);
            }

            return;
        }

        var converter = TypeDescriptor.GetConverter(target);
        if (converter.CanConvertFrom(typeof(string)))
        {
            if (section.Value is not { } value || (value.Length == 0 && target != type) || !seen.Add(section.Path))
            {
                return;
            }

            try
            {
                _ = converter.ConvertFromInvariantString(value);
            }
            catch (Exception e) when (e is FormatException or ArgumentException or OverflowException or NotSupportedException || e.InnerException is FormatException or OverflowException)
            {
                problems.Add($"{section.Path}: {Quote(section.Path, value)} {Expected(target)}");
            }

            return;
        }

        if (target.IsClass)
        {
            CheckObject(section, target, problems, seen, nesting);
        }
    }

    private static bool IsCollection(Type type, out Type? element)
    {
        element = null;
        if (type == typeof(string))
        {
            return false;
        }

        if (type.IsArray)
        {
            element = type.GetElementType();
            return true;
        }

        var dictionary = type.GetInterfaces().Append(type).FirstOrDefault(i => i.IsGenericType && i.GetGenericTypeDefinition() == typeof(IDictionary<,>));
        if (dictionary is not null)
        {
            element = dictionary.GetGenericArguments()[1];
            return true;
        }

        var enumerable = type.GetInterfaces().Append(type).FirstOrDefault(i => i.IsGenericType && i.GetGenericTypeDefinition() == typeof(IEnumerable<>));
        if (enumerable is not null && typeof(IEnumerable).IsAssignableFrom(type))
        {
            element = enumerable.GetGenericArguments()[0];
            return true;
        }

        return false;
    }

    /// <summary>The value in quotes, unless the key holds a secret.</summary>
    private static string Quote(string path, string value) =>
        new[] { "Secret", "Token", "Password", "Pepper", "MasterKey" }.Any(word => path.Contains(word, StringComparison.OrdinalIgnoreCase))
            ? "the value"
            : $"'{value}'";

    private static string Expected(Type type) => type switch
    {
        _ when type == typeof(TimeSpan) => "is not a duration; write hh:mm:ss such as 00:01:00 (or d.hh:mm:ss for days).",
        _ when type == typeof(bool) => "is not a boolean; write true or false.",
        _ when type == typeof(int) || type == typeof(long) || type == typeof(short) =>
            "is not a whole number; write digits only, such as 100.",
        _ when type == typeof(double) || type == typeof(float) || type == typeof(decimal) =>
            "is not a number; write digits with a point, such as 0.85.",
        _ when type.IsEnum => $"is not one of {string.Join(", ", Enum.GetNames(type))}.",
        _ => $"cannot be read as a {type.Name}.",
    };
}
