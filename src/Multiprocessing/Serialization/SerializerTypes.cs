using System.Collections.Concurrent;
using System.Reflection;
using System.Runtime.Serialization;
using System.Text.Json.Serialization.Metadata;

namespace Multiprocessing.Serialization;

/// <summary>
/// A serializer (or JSON context) given in one process is recreated in another from its type's
/// name: a worker of a pool, or a process a channel arrives in. One way of doing it, for both.
/// </summary>
internal static class SerializerTypes
{
    // A process that attaches many channels with the same serializer builds its codecs once.
    private static readonly ConcurrentDictionary<(string?, string?), CodecProvider> s_attached = new();

    /// <summary>The name that travels for <paramref name="instance"/>, or null for none.</summary>
    public static string? NameOf(object? instance) => instance?.GetType().AssemblyQualifiedName;

    /// <summary>Refuses, where it is given, a serializer that another process could not create.</summary>
    /// <exception cref="ArgumentException">The type has no public parameterless constructor.</exception>
    public static void RequireCreatable(IWorkerSerializer serializer, string parameterName)
    {
        if (serializer.GetType().GetConstructor(Type.EmptyTypes) is null)
        {
            throw new ArgumentException($"The serializer {serializer.GetType()} needs a public parameterless constructor: each process that receives the values creates its own instance.", parameterName);
        }
    }

    /// <summary>Refuses, where it is given, a JSON context that another process could not create.</summary>
    /// <exception cref="ArgumentException">The type has neither a public static Default property of its type nor a public parameterless constructor.</exception>
    public static void RequireCreatable(IJsonTypeInfoResolver resolver, string parameterName)
    {
        Type type = resolver.GetType();
        if (DefaultProperty(type) is null && type.GetConstructor(Type.EmptyTypes) is null)
        {
            throw new ArgumentException(
                $"The JSON context {type} needs a public static Default property (a JsonSerializerContext's source generator writes one) or a public parameterless constructor: each process that receives the values creates its own.",
                parameterName);
        }
    }

    /// <summary>Creates the serializer named <paramref name="typeName"/> in this process.</summary>
    /// <exception cref="SerializationException">The type cannot be found, is not an <see cref="IWorkerSerializer"/>, or cannot be created.</exception>
    public static IWorkerSerializer CreateSerializer(string typeName)
    {
        Type type = Resolve(typeName, "serializer");
        if (!typeof(IWorkerSerializer).IsAssignableFrom(type))
        {
            throw new SerializationException($"The serializer type {type} named by the sending process is not an IWorkerSerializer.");
        }
        return (IWorkerSerializer)Construct(type, "serializer", type.GetConstructor(Type.EmptyTypes));
    }

    /// <summary>Creates the JSON context named <paramref name="typeName"/> in this process: its static Default, or a new instance.</summary>
    /// <exception cref="SerializationException">The type cannot be found, is not an <see cref="IJsonTypeInfoResolver"/>, or cannot be created.</exception>
    public static IJsonTypeInfoResolver CreateJsonResolver(string typeName)
    {
        Type type = Resolve(typeName, "JSON context");
        if (!typeof(IJsonTypeInfoResolver).IsAssignableFrom(type))
        {
            throw new SerializationException($"The JSON context type {type} named by the sending process is not an IJsonTypeInfoResolver.");
        }
        if (DefaultProperty(type) is { } property)
        {
            try
            {
                return (IJsonTypeInfoResolver)property.GetValue(null)!;
            }
            catch (TargetInvocationException e)
            {
                throw new SerializationException($"The JSON context {type} could not be created in this process: its Default property threw {e.InnerException?.GetType().Name}: {e.InnerException?.Message}", e.InnerException ?? e);
            }
        }
        return (IJsonTypeInfoResolver)Construct(type, "JSON context", type.GetConstructor(Type.EmptyTypes));
    }

    /// <summary>The codecs for values that arrive with these names (null, null: the built-in ones).</summary>
    /// <exception cref="SerializationException">A named type cannot be created in this process.</exception>
    public static CodecProvider ProviderFor(string? serializerType, string? jsonContextType)
    {
        if (serializerType is null && jsonContextType is null)
        {
            return CodecProvider.Default;
        }
        if (s_attached.TryGetValue((serializerType, jsonContextType), out CodecProvider? known))
        {
            return known;
        }
        var provider = new CodecProvider(
            serializerType is null ? null : CreateSerializer(serializerType),
            jsonContextType is null ? null : CreateJsonResolver(jsonContextType));
        return s_attached.GetOrAdd((serializerType, jsonContextType), provider);
    }

    private static PropertyInfo? DefaultProperty(Type type) =>
        type.GetProperty("Default", BindingFlags.Public | BindingFlags.Static) is { } property && property.PropertyType.IsAssignableTo(typeof(IJsonTypeInfoResolver)) && property.GetMethod is not null
            ? property
            : null;

    private static Type Resolve(string typeName, string what)
    {
        try
        {
            return Type.GetType(typeName, throwOnError: true)!;
        }
        catch (Exception e) when (e is TypeLoadException or FileNotFoundException or FileLoadException or BadImageFormatException or ArgumentException)
        {
            throw new SerializationException($"The {what} type '{typeName}' named by the sending process cannot be loaded in this process: {e.Message}", e);
        }
    }

    private static object Construct(Type type, string what, ConstructorInfo? constructor)
    {
        if (constructor is null)
        {
            throw new SerializationException($"The {what} {type} cannot be created in this process: it has no public parameterless constructor.");
        }
        try
        {
            return constructor.Invoke(null);
        }
        catch (TargetInvocationException e)
        {
            throw new SerializationException(
                $"The {what} {type} could not be created in this process: its constructor threw {e.InnerException?.GetType().Name}: {e.InnerException?.Message}", e.InnerException ?? e);
        }
    }
}
