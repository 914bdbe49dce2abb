# The Spark glue (src/spark): compiled against the jars of the Spark distribution in SPARK_HOME
# with the Scala compiler that distribution ships (jars/scala-compiler-*.jar, there for
# spark-shell), into berth-spark-plugin.jar with its META-INF/services registration.
file(GLOB spark_jars ${SPARK_HOME}/jars/*.jar)
file(GLOB scala_compiler ${SPARK_HOME}/jars/scala-compiler-*.jar)
file(GLOB scala_library ${SPARK_HOME}/jars/scala-library-*.jar)
file(GLOB scala_reflect ${SPARK_HOME}/jars/scala-reflect-*.jar)
if(NOT spark_jars OR NOT scala_compiler OR NOT scala_library)
  message(FATAL_ERROR "SPARK_HOME=${SPARK_HOME}: no jars/*.jar with scala-compiler and scala-library; "
                      "give the root of a Spark distribution")
endif()

file(GLOB_RECURSE glue_sources CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/src/spark/scala/*.scala)
set(classes ${CMAKE_CURRENT_BINARY_DIR}/plugin-classes)
set(plugin_jar ${CMAKE_BINARY_DIR}/java/berth-spark-plugin.jar)
get_target_property(spark_logic_jar berth_spark_jar JAR_FILE)
set(compile_classpath ${spark_jars} ${client_jar} ${spark_logic_jar} ${BERTH_JAVA_COMPILE_JARS})
add_custom_command(
  OUTPUT ${plugin_jar}
  COMMAND ${CMAKE_COMMAND} -E rm -rf ${classes}
  COMMAND ${CMAKE_COMMAND} -E make_directory ${classes}
  COMMAND ${Java_JAVA_EXECUTABLE} -cp "$<JOIN:${scala_compiler};${scala_library};${scala_reflect},:>"
          scala.tools.nsc.Main -nowarn -d ${classes} -classpath "$<JOIN:${compile_classpath},:>" ${glue_sources}
  COMMAND ${CMAKE_COMMAND} -E copy_directory ${CMAKE_CURRENT_SOURCE_DIR}/src/spark/resources ${classes}
  COMMAND ${Java_JAR_EXECUTABLE} cf ${plugin_jar} -C ${classes} .
  DEPENDS ${glue_sources} ${CMAKE_CURRENT_SOURCE_DIR}/src/spark/resources/META-INF/services/org.apache.spark.scheduler.ExternalClusterManager
          berth_spark_jar
  COMMENT "Compiling the Spark glue against ${SPARK_HOME}"
  VERBATIM)
add_custom_target(berth_spark_plugin ALL DEPENDS ${plugin_jar})
install(FILES ${plugin_jar} DESTINATION ${CMAKE_INSTALL_DATADIR}/java)
