from django.apps import AppConfig


class InsightsConfig(AppConfig):
    name = "insights"
    verbose_name = "业绩看板"

    def ready(self) -> None:
        from clientbook.codes import code_renderer
        from insights.charts import line_chart

        code_renderer("chart", line_chart)
